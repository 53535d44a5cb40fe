/**
 * What the review use case reports, for decision logs and metrics (lib/observability reads these;
 * functions/admit.ts wires it through lib/runtime.ts).
 */
import type { AdmissionReviewResponse } from '../admission/respond';
import type { ReviewOutcome } from './review';
import type { AdmissionRequest } from '../model/admission';
import type { ReviewFailureCause } from '../model/outcome';
import type { PolicyLoadEvents } from '../ports';

/** One answered review, for decision logs and metrics. */
export interface ReviewEvent {
  readonly cluster: string | undefined;
  readonly request: AdmissionRequest;
  readonly policySetVersion: string | undefined;
  /** Undefined when the review failed before deciding (the answer then failed closed). */
  readonly outcome: ReviewOutcome | undefined;
  readonly response: AdmissionReviewResponse;
  readonly durationMs: number;
  /** Why the review failed before deciding, in words (the record's `reason`) … */
  readonly error: string | undefined;
  /** … and as a cause: the review's deadline had passed, or anything else. */
  readonly errorCause?: ReviewFailureCause | undefined;
}

/** A policy load: the provider's details plus the store's location. */
export type PolicyLoadEvent =
  | ({ readonly outcome: 'loaded'; readonly location: string } & Parameters<PolicyLoadEvents['loaded']>[0])
  | ({ readonly outcome: 'failed'; readonly location: string } & Parameters<PolicyLoadEvents['failed']>[0]);

/** Hooks for decision logs and metrics. */
export interface RuntimeObserver {
  /** Every answered review (becomes the webhook's `observe`). */
  readonly review?: ((event: ReviewEvent) => void) | undefined;
  /** Every policy load; when set, it reports loads instead of the default log lines. */
  readonly policyLoad?: ((event: PolicyLoadEvent) => void) | undefined;
}
