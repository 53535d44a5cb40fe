import { RegistryError } from '../model/registry-errors';
import type { RegistryTransport, TransportRequest, TransportResponse } from '../ports';

/** Statuses that say "try again later": rate limited, or a gateway in front of the registry failed. */
export const RETRY_STATUSES: ReadonlySet<number> = new Set([429, 502, 503, 504]);
/** Only requests that change nothing are repeated (the token POST is not). */
const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD']);

export interface RetryOptions {
  /** Retries after the first attempt. Default 2. */
  readonly maxRetries?: number;
  /** First backoff; doubled on each retry, with jitter (50–100 % of it). Default 100 ms. */
  readonly baseDelayMs?: number;
  /**
   * The longest wait, Retry-After included, when the request's deadline is not known. Default 5 s.
   * With a known deadline (`TransportRequest.deadline`) this cap does not apply: the wait must
   * instead end {@link MIN_ATTEMPT_MS} before the deadline.
   */
  readonly maxDelayMs?: number;
  readonly random?: () => number;
  readonly now?: () => number;
}

/** Time left for the repeated request itself; a retry that would start later is not made. */
export const MIN_ATTEMPT_MS = 250;

/**
 * Repeats an idempotent request answered 429, 502, 503 or 504, at most `maxRetries` times, after
 * a jittered exponential backoff or the registry's `Retry-After` (seconds or an HTTP date). A wait
 * that would not end {@link MIN_ATTEMPT_MS} before the request's deadline — or, when no deadline
 * is known, is longer than `maxDelayMs` — is not made: the answer is returned as it is, and the
 * caller reports the status. An aborted signal ends a wait at once with a timeout ("could not
 * check").
 */
export class RetryingTransport implements RegistryTransport {
  private readonly maxRetries: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly random: () => number;
  private readonly now: () => number;

  constructor(
    private readonly inner: RegistryTransport,
    options: RetryOptions = {},
  ) {
    this.maxRetries = options.maxRetries ?? 2;
    this.baseDelayMs = options.baseDelayMs ?? 100;
    this.maxDelayMs = options.maxDelayMs ?? 5_000;
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
  }

  async send(request: TransportRequest): Promise<TransportResponse> {
    for (let attempt = 0; ; attempt++) {
      const response = await this.inner.send(request);
      if (
        attempt >= this.maxRetries ||
        !IDEMPOTENT_METHODS.has(request.method) ||
        !RETRY_STATUSES.has(response.status)
      ) {
        return response;
      }
      const backoff = this.baseDelayMs * 2 ** attempt * (0.5 + this.random() / 2);
      const wait = Math.max(0, retryAfterMs(response.headers['retry-after'], this.now()) ?? backoff);
      if (!this.mayWait(wait, request.deadline)) return response;
      await sleep(wait, request.signal, request.url.host);
    }
  }

  /** With a known deadline, whether the retry still fits before it; without one, the cap. */
  private mayWait(wait: number, deadline: number | undefined): boolean {
    // Infinity is the deadline of shared work once a caller without a known time joined.
    if (deadline === undefined || !Number.isFinite(deadline)) return wait <= this.maxDelayMs;
    return this.now() + wait + MIN_ATTEMPT_MS <= deadline;
  }
}

/** `Retry-After` in milliseconds from `now`: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(value: string | undefined, now: number): number | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // An HTTP date in the IMF-fixdate form servers send (RFC 9110 §5.6.7), e.g. Sun, 06 Nov 1994 08:49:37 GMT.
  if (!/^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(text)) return undefined;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function sleep(ms: number, signal: AbortSignal | undefined, host: string): Promise<void> {
  const timeout = () =>
    new RegistryError('REGISTRY_TIMEOUT', host, `registry ${host} did not answer in time`);
  if (signal?.aborted) return Promise.reject(timeout());
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(timeout());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
