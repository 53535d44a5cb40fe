/** What the runtime-level integration tests share: a silent log, and the answer as they read it. */
import type { Log } from '../../lib/ports';

/** A log that drops everything (the tests assert on answers, not on log lines). */
export const quietLog: Log = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** The `response` of an AdmissionReview answer, as the tests read it. */
export interface AdmissionAnswer {
  readonly uid?: string;
  readonly allowed: boolean;
  readonly status?: { readonly message: string };
  readonly warnings?: string[];
  readonly patch?: string;
}
