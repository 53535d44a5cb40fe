import type { AdmissionApiVersion, AdmissionDecision } from '../model/admission';

/** The AdmissionReview response body the API server reads. */
export interface AdmissionReviewResponse {
  readonly apiVersion: AdmissionApiVersion;
  readonly kind: 'AdmissionReview';
  readonly response: {
    readonly uid: string;
    readonly allowed: boolean;
    readonly status?: { readonly status: 'Failure'; readonly message: string };
    readonly patchType?: 'JSONPatch';
    readonly patch?: string;
    readonly warnings?: readonly string[];
  };
}

/** Wraps a decision in an AdmissionReview of the request's apiVersion, echoing its uid. */
export function toAdmissionReview(
  apiVersion: AdmissionApiVersion,
  uid: string,
  decision: AdmissionDecision,
): AdmissionReviewResponse {
  const patch =
    decision.allowed && decision.patch.length > 0
      ? {
          patchType: 'JSONPatch' as const,
          patch: Buffer.from(JSON.stringify(decision.patch)).toString('base64'),
        }
      : {};
  return {
    apiVersion,
    kind: 'AdmissionReview',
    response: {
      uid,
      allowed: decision.allowed,
      ...(decision.allowed ? {} : { status: { status: 'Failure', message: decision.message ?? 'denied' } }),
      ...patch,
      ...(decision.warnings.length > 0 ? { warnings: decision.warnings } : {}),
    },
  };
}
