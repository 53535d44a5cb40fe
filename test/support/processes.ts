/**
 * Small helpers for test fixtures that run external programs: run-to-completion commands, long-running
 * child processes that are always stopped by their own PID, and temporary directories.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RunResult {
  /** Exit code, or null when the process was ended by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Written to stdin, which is then closed. Without it stdin is empty. */
  input?: string | Buffer;
  /** Default 15 s. The process is killed (by its PID) when it runs longer. */
  timeoutMs?: number;
}

/** Runs a program to completion (no shell) and collects its output. Never rejects on a non-zero exit. */
export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(command, args, {
        env: options.env ?? process.env,
        cwd: options.cwd,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
    } catch (err) {
      reject(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${command}: ${err.message}`, { cause: err }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result: RunResult = {
        code,
        signal,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
      };
      if (timedOut) {
        reject(new Error(`${command} ${args.join(' ')} timed out after ${timeoutMs} ms\n${result.stderr}`));
        return;
      }
      resolve(result);
    });
    child.stdin?.on('error', () => {
      /* the program may exit without reading its stdin */
    });
    child.stdin?.end(options.input);
  });
}

/** Like {@link run} but rejects (with stderr in the message) unless the exit code is 0. */
export async function runChecked(
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const result = await run(command, args, options);
  if (result.code !== 0) {
    const detail = result.stderr.trim() || result.stdout.trim();
    throw new Error(
      `${command} ${args.join(' ')} failed (${result.signal ?? `exit ${result.code}`}): ${detail}`,
    );
  }
  return result;
}

// Temporary directories made here and not yet removed; removed synchronously at process exit.
const liveDirs = new Set<string>();

/** mkdtemp under the OS temp dir; removed by {@link removeDir} or, failing that, when the process exits. */
export async function makeTempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `imagegate-${prefix}-`));
  liveDirs.add(dir);
  return dir;
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  liveDirs.delete(dir);
}

// Every long-running child started here. On exit of the test process (e.g. a test forgot to stop a
// fixture), these PIDs, and only these, get SIGKILL so no registry outlives the test run.
const liveChildren = new Map<number, ChildProcess>();
process.on('exit', () => {
  for (const [pid, child] of liveChildren) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
  for (const dir of liveDirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
  }
});

export interface ManagedProcess {
  readonly pid: number;
  /** The last `maxOutputChars` characters of stdout and stderr, interleaved as received. */
  output(): string;
  /** Lines seen so far that match; counted over the whole run, not just the kept tail. */
  countLines(pattern: RegExp): number;
  /** Resolves with the first regex match in the output, or rejects when the process exits or on timeout. */
  waitForOutput(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  /** Exit code/signal once the process has ended; null while it runs. */
  exitStatus(): { code: number | null; signal: NodeJS.Signals | null } | null;
  /** SIGTERM to this PID, SIGKILL after `graceMs` (default 3 s); resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
}

export interface SpawnManagedOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  maxOutputChars?: number;
  /** Patterns whose matching lines are counted for {@link ManagedProcess.countLines}. */
  countPatterns?: RegExp[];
}

/** Starts a long-running program (no shell) whose output is kept in memory and which is stopped by PID. */
export function spawnManaged(
  command: string,
  args: readonly string[],
  options: SpawnManagedOptions = {},
): ManagedProcess {
  const child = spawn(command, args, {
    env: options.env ?? process.env,
    cwd: options.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const maxChars = options.maxOutputChars ?? 64 * 1024;
  let out = '';
  let spawnError: Error | undefined;
  let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const listeners = new Set<() => void>();
  const notify = () => {
    for (const listener of [...listeners]) listener();
  };
  const counters = new Map<RegExp, number>();
  for (const pattern of options.countPatterns ?? []) counters.set(pattern, 0);
  const partial = { stdout: '', stderr: '' };

  const onData = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    out = (out + text).slice(-maxChars);
    if (counters.size > 0) {
      const lines = (partial[stream] + text).split('\n');
      partial[stream] = lines.pop() ?? '';
      for (const line of lines) {
        for (const [pattern, n] of counters) if (pattern.test(line)) counters.set(pattern, n + 1);
      }
    }
    notify();
  };
  child.stdout?.on('data', onData('stdout'));
  child.stderr?.on('data', onData('stderr'));

  const exited = new Promise<void>((resolve) => {
    child.on('error', (err) => {
      spawnError = err;
      exit ??= { code: null, signal: null };
      notify();
      resolve();
    });
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      if (child.pid !== undefined) liveChildren.delete(child.pid);
      notify();
      resolve();
    });
  });

  const pid = child.pid ?? -1;
  if (child.pid !== undefined) liveChildren.set(child.pid, child);

  return {
    pid,
    output: () => out,
    countLines: (pattern) => {
      const n = counters.get(pattern);
      if (n === undefined) throw new Error(`pattern ${String(pattern)} was not registered in countPatterns`);
      return n;
    },
    exitStatus: () => exit,
    waitForOutput(pattern, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = out.match(pattern);
          if (match) {
            done();
            resolve(match);
          } else if (exit) {
            done();
            const why = spawnError
              ? `failed to start: ${spawnError.message}`
              : `exited (${exit.signal ?? `code ${exit.code}`})`;
            reject(new Error(`${command} ${why} before printing ${String(pattern)}\n${tail(out)}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(
            new Error(`${command} did not print ${String(pattern)} within ${timeoutMs} ms\n${tail(out)}`),
          );
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
    async stop(graceMs = 3_000) {
      if (exit || child.pid === undefined) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => {
        if (!exit) child.kill('SIGKILL');
      }, graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The last `lines` lines of a log, for error messages. */
export function tail(text: string, lines = 20): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}
