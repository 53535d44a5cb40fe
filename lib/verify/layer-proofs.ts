/**
 * What `.sig` and `.att` layers share: the certificate they carry, their Rekor bundle annotation
 * and their RFC 3161 timestamp annotation, read as the attestor requires.
 */
import {
  COSIGN_CERTIFICATE_ANNOTATION,
  COSIGN_CHAIN_ANNOTATION,
  COSIGN_REKOR_BUNDLE_ANNOTATION,
  COSIGN_RFC3161_ANNOTATION,
} from '../model/cosign-format';
import type { SignatureLayer } from '../model/evidence';
import { readCertificatesPem, type SigningTime } from './certificates';
import { Stage, type StageFailure } from '../model/verification';
import { parseRekorBundle, type RekorBundle } from './rekor';
import type { CarriedCertificate } from './signer';
import type { AttestorCheck } from './spec';
import { parseTimestampAnnotation, verifyTimestamp } from './timestamp';

/**
 * The certificate a `.sig` or `.att` layer carries: the first PEM of its certificate annotation,
 * with the chain annotation's certificates as intermediates.
 */
export function layerCertificate(
  layer: SignatureLayer,
  what: 'signature' | 'attestation',
): CarriedCertificate | StageFailure {
  const annotation = layer.annotations[COSIGN_CERTIFICATE_ANNOTATION];
  const leaf = readCertificatesPem(annotation)?.[0];
  if (!leaf) {
    return {
      stage: Stage.Material,
      failure: annotation ? 'MALFORMED_EVIDENCE' : 'NO_CERTIFICATE',
      reason: annotation
        ? `the ${what} certificate is unreadable`
        : `the ${what} has no certificate (it was made with a key, not keylessly)`,
    };
  }
  return { leaf, untrusted: readCertificatesPem(layer.annotations[COSIGN_CHAIN_ANNOTATION]) ?? [] };
}

/** A layer's log proof: the signing time it proves, or why it is missing or invalid. */
export type LogProof = { readonly time: SigningTime | undefined } | StageFailure;

/** A missing or invalid log proof: a failure when the attestor requires the log, else no signing time. */
export function logProblem(check: AttestorCheck, reason: string): LogProof {
  return check.tlog.required ? { stage: Stage.Log, failure: 'LOG', reason } : { time: undefined };
}

/** The Rekor bundle annotation of a `.sig` or `.att` layer, parsed; or what its absence or unreadability means. */
export function layerRekorBundle(
  layer: SignatureLayer,
  check: AttestorCheck,
  what: 'signature' | 'attestation',
): RekorBundle | LogProof {
  const annotation = layer.annotations[COSIGN_REKOR_BUNDLE_ANNOTATION];
  if (!annotation) {
    return logProblem(
      check,
      `missing transparency-log proof: the ${what} has no Rekor bundle, and imagegate checks the log offline only (rekor.ignoreTlog: true accepts ${what}s without one)`,
    );
  }
  const bundle = parseRekorBundle(annotation);
  return typeof bundle === 'string' ? logProblem(check, `invalid transparency-log proof: ${bundle}`) : bundle;
}

/**
 * The RFC 3161 timestamp annotation of a layer, over `imprint` (the signature bytes for `.sig`,
 * the envelope bytes for `.att`): required with `ctlog.tsaCertChain`, else used when it verifies.
 */
export function checkLayerTimestamp(
  layer: SignatureLayer,
  imprint: Uint8Array,
  check: AttestorCheck,
): SigningTime | StageFailure | undefined {
  const annotation = layer.annotations[COSIGN_RFC3161_ANNOTATION];
  const { required, authorities } = check.timestamps;
  if (!annotation) {
    return required
      ? {
          stage: Stage.Timestamp,
          failure: 'TIMESTAMP',
          reason: "missing RFC 3161 timestamp: the policy's ctlog.tsaCertChain requires one",
        }
      : undefined;
  }
  const timestamp = parseTimestampAnnotation(annotation);
  if ('problem' in timestamp) {
    return required
      ? {
          stage: Stage.Timestamp,
          failure: timestamp.unreadableGenTime ? 'UNREADABLE_TIMESTAMP' : 'TIMESTAMP',
          reason: `invalid RFC 3161 timestamp: ${timestamp.problem}`,
        }
      : undefined;
  }
  const result = verifyTimestamp(timestamp, Buffer.from(imprint), authorities);
  if (!result.ok)
    return required ? { stage: Stage.Timestamp, failure: 'TIMESTAMP', reason: result.reason } : undefined;
  return { time: result.time, source: `RFC 3161 timestamp, ${result.authority}` };
}
