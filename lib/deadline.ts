import { RegistryError } from './model/registry-errors';

/** Kubernetes' default webhook timeout, used when the API server sends no `?timeout=`. */
export const DEFAULT_TIMEOUT_MS = 10_000;
const MAX_TIMEOUT_MS = 30_000;
const MAX_MARGIN_MS = 1_500;

/**
 * The API server's `?timeout=` query value (a Go duration such as `10s`, `1m`, `2500ms`) in
 * milliseconds, clamped to Kubernetes' 1–30 s; the default when absent or unreadable.
 */
export function parseApiServerTimeout(value: string | undefined): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(value?.trim() ?? '');
  if (!match) return DEFAULT_TIMEOUT_MS;
  const unit = match[2] === 'ms' ? 1 : match[2] === 's' ? 1_000 : 60_000;
  return Math.min(MAX_TIMEOUT_MS, Math.max(1_000, Number(match[1]) * unit));
}

/**
 * How long the review may wait: the API server's timeout (and the Lambda's remaining time) less a
 * margin for the answer to travel back — 15 %, at most 1.5 s.
 */
export function reviewBudgetMs(timeoutMs: number, remainingLambdaMs = Infinity): number {
  const limit = Math.min(timeoutMs, remainingLambdaMs);
  return Math.max(100, limit - Math.min(MAX_MARGIN_MS, limit * 0.15));
}

/**
 * When a review must have its answer: `signal` fires then, `at` says when (epoch ms; `Infinity`
 * when only the signal is known). Passed down explicitly to every read.
 */
export interface Deadline {
  readonly signal: AbortSignal;
  readonly at: number;
}

/** The deadline `ms` from now (`now` in epoch ms), and a function to cancel its timer. */
export function deadlineSignal(ms: number, now: number = Date.now()): Deadline & { clear: () => void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error('review deadline reached')), ms);
  timer.unref();
  return { signal: controller.signal, at: now + ms, clear: () => clearTimeout(timer) };
}

/** A deadline known only by its signal (a caller that aborts, with no time attached). */
export function untilAborted(signal: AbortSignal): Deadline {
  return { signal, at: Infinity };
}

/** The error a review gets when it stops waiting for `registry` at its deadline. */
export function registryTimeout(registry: string): RegistryError {
  return new RegistryError('REGISTRY_TIMEOUT', registry, `registry ${registry} did not answer in time`);
}

/**
 * `promise`, or `timeout()` as soon as `signal` aborts (after `left()`): the waiter's side of
 * shared work.
 */
function waitUntilAborted<T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
  timeout: () => Error,
  left: () => void,
): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) {
    left();
    return Promise.reject(timeout());
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      left();
      reject(timeout());
    };
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

interface SharedRun {
  /** Settles with the work; set once the work has started. */
  promise: Promise<unknown>;
  readonly controller: AbortController;
  /** Callers still waiting for the result. */
  waiting: number;
  /** The latest deadline (epoch ms) among the callers that joined; Infinity once one has none. */
  latest: number;
}

/**
 * Work shared by concurrent callers of one key (a registry read, a verification), run under its
 * own deadline rather than the first caller's: the work goes on while any caller still waits, and
 * is aborted when the last one has left. So its budget is the longest waiting deadline, which is
 * never later than the Lambda's remaining time (every review's deadline is capped by it, see
 * {@link reviewBudgetMs}); each caller leaves at its own deadline with `timeout()`. A key is
 * forgotten as soon as its work settles or is abandoned, so a later caller starts afresh.
 */
export class SharedWork<T> {
  private readonly running = new Map<string, SharedRun>();

  /**
   * The result of the work for `key`: joins the run in flight, or starts `work` with a deadline of
   * its own, whose `at` is the longest waiting deadline whenever it is read (`Infinity` once a
   * caller without a known time joined). Rejects with `timeout()` when the caller's signal aborts
   * first.
   */
  join(
    key: string,
    deadline: Deadline | undefined,
    work: (own: Deadline) => Promise<T>,
    timeout: () => Error,
  ): Promise<T> {
    if (deadline?.signal.aborted) return Promise.reject(timeout());
    const running = this.running.get(key);
    const joined = running ?? this.create(key);
    joined.waiting++;
    joined.latest = Math.max(joined.latest, deadline?.at ?? Infinity);
    if (!running) this.start(key, joined, work);
    const leave = () => {
      joined.waiting--;
      if (joined.waiting > 0) return;
      if (this.running.get(key) === joined) this.running.delete(key);
      joined.controller.abort(new Error('every review waiting for this work has reached its deadline'));
    };
    return waitUntilAborted(joined.promise as Promise<T>, deadline?.signal, timeout, leave);
  }

  /** Keys with work in flight (for tests and metrics). */
  get size(): number {
    return this.running.size;
  }

  private create(key: string): SharedRun {
    const run: SharedRun = {
      promise: Promise.resolve(),
      controller: new AbortController(),
      waiting: 0,
      latest: -Infinity,
    };
    this.running.set(key, run);
    return run;
  }

  private start(key: string, run: SharedRun, work: (own: Deadline) => Promise<T>): void {
    const own: Deadline = {
      signal: run.controller.signal,
      get at() {
        return run.latest;
      },
    };
    let started: Promise<T>;
    try {
      started = work(own);
    } catch (error) {
      started = Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    run.promise = started.finally(() => {
      if (this.running.get(key) === run) this.running.delete(key);
    });
    // Abandoned work rejects with nobody left to listen.
    run.promise.catch(() => undefined);
  }
}
