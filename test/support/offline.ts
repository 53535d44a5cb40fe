/**
 * Runs `serverless offline` (osls + serverless-offline + serverless-esbuild) on 127.0.0.1 for
 * integration tests: API Gateway HTTP API in front of the real, esbuild-bundled functions/admit.ts.
 *
 * The handler sees only provider.environment from serverless.yml plus AWS_* variables, never the
 * rest of this process's environment, so IMAGEGATE_* settings reach it through `${env:…}` there.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, rmdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { freePort } from './ports';

export interface OfflineServer {
  /** Base URL without a trailing slash, e.g. `http://127.0.0.1:41234`. */
  url: string;
  /** The last lines of the server's stdout and stderr (handler logs included). */
  logs(): string;
  /** SIGTERM, then SIGKILL after 5 s; resolves once the process has exited. */
  stop(): Promise<void>;
}

const repoRoot = path.resolve(__dirname, '..', '..');
const oslsBin = path.join(repoRoot, 'node_modules', 'osls', 'bin', 'serverless.js');
/** The project pins Node 22 as a devDependency; the system node may be older. */
const node22 = path.join(repoRoot, 'node_modules', 'node', 'bin', 'node');

const READY_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 5_000;
const LOG_LIMIT = 64 * 1024;

/** Children still running, killed if the test process exits without calling stop(). */
const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of running) {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  });
}

/**
 * Starts serverless offline on free ports and resolves once its HTTP port answers.
 *
 * `env` is merged over a hermetic base: inherited IMAGEGATE_* and AWS_* variables are dropped,
 * dummy AWS credentials are set, and telemetry is off, so no AWS account or network is needed.
 */
export async function startOffline(env: Record<string, string> = {}): Promise<OfflineServer> {
  const httpPort = await freePort();
  let lambdaPort = await freePort();
  while (lambdaPort === httpPort) lambdaPort = await freePort();

  const buildDir = env.IMAGEGATE_BUILD_DIR ?? path.join('.esbuild', `offline-${process.pid}-${httpPort}`);
  const childEnv: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith('IMAGEGATE_') || key.startsWith('AWS_')) continue;
    childEnv[key] = value;
  }
  Object.assign(
    childEnv,
    {
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_REGION: 'us-east-1',
      SLS_TELEMETRY_DISABLED: '1',
      SLS_NOTIFICATIONS_MODE: 'off',
      IMAGEGATE_BUILD_DIR: buildDir,
    },
    env,
  );

  const nodeBin = existsSync(node22) ? node22 : process.execPath;
  const args = [
    oslsBin,
    'offline',
    'start',
    '--param=mode=local',
    '--host',
    '127.0.0.1',
    '--httpPort',
    String(httpPort),
    '--lambdaPort',
    String(lambdaPort),
  ];
  // The child is node itself (not npx or a shell), so child.pid is the server we later kill.
  const child = spawn(nodeBin, args, { cwd: repoRoot, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  installExitHook();

  let output = '';
  const append = (chunk: Buffer): void => {
    output += chunk.toString('utf8');
    if (output.length > LOG_LIMIT) output = output.slice(-LOG_LIMIT);
  };
  child.stdout.on('data', append);
  child.stderr.on('data', append);

  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      running.delete(child);
      resolve();
    });
  });
  let spawnError: Error | undefined;
  child.once('error', (err) => {
    spawnError = err;
  });
  const logs = (): string => output;

  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }, STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    }
    if (env.IMAGEGATE_BUILD_DIR === undefined) {
      rmSync(path.join(repoRoot, buildDir), { recursive: true, force: true });
      try {
        rmdirSync(path.join(repoRoot, '.esbuild')); // only once no other instance is using it
      } catch {
        // not empty, or already gone
      }
    }
  };

  const url = `http://127.0.0.1:${httpPort}`;
  const tail = (): string => output.split('\n').slice(-40).join('\n');
  try {
    await waitForHttp(url, READY_TIMEOUT_MS, () => {
      if (spawnError) throw new Error(`could not start ${nodeBin}: ${spawnError.message}`);
      return child.exitCode !== null || child.signalCode !== null;
    });
  } catch (err) {
    await stop();
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(`serverless offline did not start on ${url}: ${reason}\n--- log tail ---\n${tail()}`, {
      cause: err,
    });
  }
  return { url, logs, stop };
}

/** Resolves on the first HTTP response of any status from `url`; polls every 100 ms. */
async function waitForHttp(url: string, timeoutMs: number, hasExited: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (hasExited()) throw new Error('the process exited before it listened');
    if (await answers(url)) return;
    if (Date.now() > deadline) throw new Error(`no HTTP answer within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function answers(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.request(url, { method: 'HEAD', agent: false, timeout: 1_000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(false));
    req.end();
  });
}
