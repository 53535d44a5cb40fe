import { RegistryError } from './oci/errors';

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

/** An AbortSignal that fires after `ms`, and a function to cancel the timer. */
export function deadlineSignal(ms: number): { signal: AbortSignal; clear: () => void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error('review deadline reached')), ms);
  timer.unref();
  return { signal: controller.signal, clear: () => clearTimeout(timer) };
}

/**
 * `promise`, or a timeout error naming `registry` as soon as `signal` aborts — for work shared
 * with other reviews, which may have later deadlines than this one.
 */
export function untilAborted<T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
  registry: string,
): Promise<T> {
  if (!signal) return promise;
  const timeout = () =>
    new RegistryError('REGISTRY_TIMEOUT', registry, `registry ${registry} did not answer in time`);
  if (signal.aborted) return Promise.reject(timeout());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(timeout());
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
