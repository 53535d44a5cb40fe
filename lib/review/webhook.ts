import { decodeAdmissionReview } from '../admission/decode';
import { toAdmissionReview, type AdmissionReviewResponse } from '../admission/respond';
import type { Deadline } from '../deadline';
import type { Gatherer } from './gather';
import { reviewAdmissionInDetail, type ReviewOutcome } from './review';
import type { VerificationCache } from '../cache/verification-cache';
import type { AdmissionRequest } from '../model/admission';
import { describeError } from '../errors';
import type { ReviewFailureCause } from '../model/outcome';
import type { ReviewEvent } from './events';
import type { TrustRoots } from '../verify/trust-roots';
import type { Clock, ImageSource } from '../ports';
import type { PolicyProvider } from '../ports';
import type { Log } from '../ports';

export interface WebhookDependencies {
  readonly policies: PolicyProvider;
  /** The process's gather step (reads and verifications shared by concurrent reviews), or a bare source. */
  readonly images: ImageSource | Gatherer;
  readonly log: Log;
  /** Trust roots (public-good plus IMAGEGATE_TRUST_ROOTS), loaded once (lib/runtime.ts). */
  readonly trust: () => Promise<TrustRoots>;
  /** Verdicts kept across the reviews of this process. */
  readonly cache?: VerificationCache | undefined;
  /** Told about every answered review (decision logs, metrics). */
  readonly observe?: ((event: ReviewEvent) => void) | undefined;
  /** The time signatures and certificates are verified at; default the system clock. */
  readonly clock?: Clock | undefined;
}

/**
 * Answers one AdmissionReview body. Throws {@link AdmissionDecodeError} for a body that is not
 * an AdmissionReview (the caller answers 400); every other outcome, including a policy set
 * that cannot be loaded or an internal fault, is a well-formed AdmissionReview that fails
 * closed.
 */
export async function answerAdmissionReview(
  body: unknown,
  deps: WebhookDependencies,
  options: {
    cluster?: string | undefined;
    deadline?: Deadline | undefined;
    signal?: AbortSignal | undefined;
  } = {},
): Promise<AdmissionReviewResponse> {
  const request = decodeAdmissionReview(body);
  const { cluster } = options;
  // `signal` alone: a caller that knows only when it gives up, not when that is.
  const deadline =
    options.deadline ?? (options.signal ? { signal: options.signal, at: Infinity } : undefined);
  const started = performance.now();
  let policySetVersion: string | undefined;
  let outcome: ReviewOutcome | undefined;
  let response: AdmissionReviewResponse;
  let failure: string | undefined;
  let failureCause: ReviewFailureCause | undefined;
  try {
    const policySet = await deps.policies.current(cluster);
    policySetVersion = policySet.version;
    outcome = await reviewAdmissionInDetail(request, policySet, deps.images, {
      deadline,
      cache: deps.cache,
      trust: await deps.trust(),
      now: new Date(deps.clock?.now() ?? Date.now()),
    });
    response = toAdmissionReview(request.apiVersion, request.uid, outcome.decision);
  } catch (error) {
    failure = describeError(error);
    failureCause = { kind: deadline?.signal.aborted ? 'deadline' : 'internal' };
    deps.log.error('admission review failed; denying', { cluster, uid: request.uid, error: failure });
    response = failClosed(request, error);
  }
  deps.observe?.({
    cluster,
    request,
    policySetVersion,
    outcome,
    response,
    durationMs: performance.now() - started,
    error: failure,
    errorCause: failureCause,
  });
  return response;
}

function failClosed(request: AdmissionRequest, error: unknown): AdmissionReviewResponse {
  return toAdmissionReview(request.apiVersion, request.uid, {
    allowed: false,
    message: `imagegate could not review this request: ${describeError(error)}`,
    warnings: [],
    patch: [],
  });
}
