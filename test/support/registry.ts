/**
 * Throw-away OCI registries for tests: Debian's `docker-registry` (distribution 2.8) run as a child process
 * on 127.0.0.1 with an ephemeral port, plus an in-process counting reverse proxy.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import { makeTempDir, removeDir, runChecked, spawnManaged, tail } from './processes';
import { listenOnLoopback } from './ports';

export interface TestRegistry {
  /** "127.0.0.1:PORT" */
  host: string;
  /** "http://127.0.0.1:PORT" */
  url: string;
  /**
   * Number of HTTP requests the registry has logged as completed (its "response completed" log lines).
   * The line is written after the response, so wait briefly (see {@link waitForRequestCount}) before
   * comparing exact numbers; for exact synchronous counts put a {@link startCountingProxy} in front.
   */
  requests(): number;
  /** Resolves once {@link requests} reaches at least `n` (or rejects after `timeoutMs`). */
  waitForRequestCount(n: number, timeoutMs?: number): Promise<number>;
  /** Tail of the registry's log, for debugging. */
  logs(): string;
  /** The registry's temporary directory (config, htpasswd, storage under data/). */
  dir: string;
  pid: number;
  /** Kills the registry process (by PID) and removes its temporary directory. Idempotent. */
  stop(): Promise<void>;
}

export interface StartRegistryOptions {
  /** Protect the registry with htpasswd basic auth (realm "test-realm") for this single user. */
  htpasswd?: { username: string; password: string };
  /** Milliseconds to wait for the registry to answer /v2/. Default 10 000. */
  startTimeoutMs?: number;
}

const RESPONSE_LINE = /msg="response completed/;

export async function startRegistry(options: StartRegistryOptions = {}): Promise<TestRegistry> {
  const timeoutMs = options.startTimeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  const dir = await makeTempDir('registry');
  try {
    let auth = '';
    if (options.htpasswd) {
      const { username, password } = options.htpasswd;
      const { stdout } = await runChecked('htpasswd', ['-Bbn', username, password]);
      const htpasswdPath = join(dir, 'htpasswd');
      await writeFile(htpasswdPath, stdout.trim() + '\n', { mode: 0o600 });
      auth = ['auth:', '  htpasswd:', '    realm: test-realm', `    path: ${htpasswdPath}`, ''].join('\n');
    }
    const config = [
      'version: 0.1',
      'log:',
      '  level: info',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(dir, 'data')}`,
      '  delete:',
      '    enabled: true',
      '  cache:',
      '    blobdescriptor: inmemory',
      'http:',
      '  addr: 127.0.0.1:0',
      `  secret: ${randomBytes(16).toString('hex')}`,
      auth,
    ].join('\n');
    const configPath = join(dir, 'config.yml');
    await writeFile(configPath, config);

    // Environment variables override the config file; drop any inherited REGISTRY_* so only ours apply.
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('REGISTRY_')) env[k] = v;
    Object.assign(env, {
      REGISTRY_HTTP_ADDR: '127.0.0.1:0',
      REGISTRY_LOG_LEVEL: 'info',
      REGISTRY_LOG_ACCESSLOG_DISABLED: 'true',
    });

    const proc = spawnManaged('docker-registry', ['serve', configPath], {
      env,
      cwd: dir,
      countPatterns: [RESPONSE_LINE],
    });
    const fail = async (err: unknown): Promise<never> => {
      await proc.stop();
      let message = err instanceof Error ? err.message : String(err);
      if (/ENOENT/.test(message))
        message += ' (is docker-registry installed? run: bash scripts/ensure-system-deps.sh)';
      throw new Error(
        `docker-registry did not become ready: ${message}\n--- registry log tail ---\n${tail(proc.output())}`,
      );
    };

    let port: string;
    try {
      const match = await proc.waitForOutput(
        /listening on 127\.0\.0\.1:(\d+)/,
        Math.max(0, deadline - Date.now()),
      );
      port = match[1] ?? '';
    } catch (err) {
      return await fail(err);
    }
    const host = `127.0.0.1:${port}`;
    const url = `http://${host}`;

    // Poll /v2/ until it answers (200 anonymous, 401 with htpasswd).
    let lastError = 'no attempt';
    for (;;) {
      if (proc.exitStatus()) return await fail(new Error('process exited'));
      try {
        const res = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(1_000) });
        await res.arrayBuffer();
        if (res.status === 200 || (options.htpasswd && res.status === 401)) break;
        lastError = `GET /v2/ returned ${res.status}`;
      } catch (err) {
        lastError = err instanceof Error ? err.message : String(err);
      }
      if (Date.now() > deadline)
        return await fail(new Error(`timed out after ${timeoutMs} ms (${lastError})`));
      await new Promise((r) => setTimeout(r, 25));
    }

    let stopped: Promise<void> | undefined;
    const registry: TestRegistry = {
      host,
      url,
      dir,
      pid: proc.pid,
      requests: () => proc.countLines(RESPONSE_LINE),
      async waitForRequestCount(n, waitMs = 2_000) {
        const until = Date.now() + waitMs;
        for (;;) {
          const count = proc.countLines(RESPONSE_LINE);
          if (count >= n) return count;
          if (Date.now() > until)
            throw new Error(`registry logged ${count} requests, expected at least ${n}`);
          await new Promise((r) => setTimeout(r, 10));
        }
      },
      logs: () => proc.output(),
      stop() {
        stopped ??= (async () => {
          await proc.stop();
          await removeDir(dir);
        })();
        return stopped;
      },
    };
    return registry;
  } catch (err) {
    await removeDir(dir);
    throw err;
  }
}

export interface CountingProxy {
  /** "127.0.0.1:PORT" of the proxy; use it in place of the registry's host. */
  host: string;
  url: string;
  /** Requests received so far (counted when they arrive). */
  count(): number;
  /** "METHOD /path" (query string dropped) of every request received, in order. */
  requests(): string[];
  reset(): void;
  stop(): Promise<void>;
}

// Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection; Node re-frames the bodies itself.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
]);

function endToEndHeaders(raw: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    if (!HOP_BY_HOP.has(name.toLowerCase())) out.push(name, raw[i + 1]!);
  }
  return out;
}

/**
 * A reverse proxy on 127.0.0.1:0 in front of `targetHost` ("127.0.0.1:PORT") that forwards each request
 * (method, path, headers including Host, body) and the response unchanged, and records it. Because the
 * Host header is kept, the registry builds upload `Location` URLs that point back at the proxy.
 */
export async function startCountingProxy(
  targetHost: string,
  options: { delayMs?: number } = {},
): Promise<CountingProxy> {
  const target = new URL(`http://${targetHost}`);
  const agent = new http.Agent({ keepAlive: true });
  let seen: string[] = [];

  const server = http.createServer((req, res) => {
    seen.push(`${req.method ?? 'GET'} ${(req.url ?? '/').split('?')[0]}`);
    // An injected round-trip time: the request waits before it is forwarded.
    if (options.delayMs) setTimeout(() => forward(req, res), options.delayMs);
    else forward(req, res);
  });

  function forward(req: http.IncomingMessage, res: http.ServerResponse): void {
    const upstream = http.request(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: endToEndHeaders(req.rawHeaders),
        agent,
        setHost: false,
      },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, endToEndHeaders(upRes.rawHeaders));
        upRes.pipe(res);
        upRes.on('error', () => res.destroy());
      },
    );
    upstream.on('error', (err) => {
      if (res.headersSent) {
        res.destroy();
      } else {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`counting proxy: upstream ${targetHost} failed: ${err.message}`);
      }
    });
    req.pipe(upstream);
  }

  const host = await listenOnLoopback(server);
  let stopped: Promise<void> | undefined;

  return {
    host,
    url: `http://${host}`,
    count: () => seen.length,
    requests: () => [...seen],
    reset: () => {
      seen = [];
    },
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      });
      return stopped;
    },
  };
}
