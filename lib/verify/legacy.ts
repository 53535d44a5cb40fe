import { COSIGN_SIGNATURE_ANNOTATION, type SignatureLayer } from '../oci/cosign';
import { readCertificatesPem, type SigningTime } from './certificates';
import {
  annotationMismatch,
  checkSignerCertificate,
  resolveSigner,
  Stage,
  type AttestorCheck,
  type CarriedCertificate,
  type Signer,
  type StageFailure,
} from './checks';
import { parseSimpleSigningPayload } from './payload';
import {
  COSIGN_REKOR_BUNDLE_ANNOTATION,
  parseRekorBundle,
  rekorEntryMismatch,
  verifyRekorBundle,
  type RekorBundle,
} from './rekor';
import { verifyRawSignature } from './signature';
import { COSIGN_RFC3161_ANNOTATION, parseTimestampAnnotation, verifyTimestamp } from './timestamp';

export const COSIGN_CERTIFICATE_ANNOTATION = 'dev.sigstore.cosign/certificate';
export const COSIGN_CHAIN_ANNOTATION = 'dev.sigstore.cosign/chain';

/** The outcome of checking one image's signatures against one attestor. */
export type SignatureVerdict =
  | { readonly verified: true; readonly evidence: string }
  | { readonly verified: false; readonly stage: Stage; readonly reason: string };

/**
 * Verifies cosign legacy `.sig` layers (cosign-formats §1.5) against one attestor: a layer passes
 * when its signer is the attestor's (key, or certificate chained to a trusted CA with the
 * required identity), its signature verifies over the raw payload, its log proof and timestamps
 * verify offline as required, the certificate was valid when it signed, and the payload names
 * `imageDigest` with the required annotations. One passing layer is enough; otherwise the
 * failure of the layer that got furthest is reported.
 */
export function verifyLegacySignatures(
  layers: readonly SignatureLayer[],
  imageDigest: string,
  check: AttestorCheck,
): SignatureVerdict {
  if (layers.length === 0) return { verified: false, stage: Stage.Material, reason: 'signature not found' };
  let furthest: StageFailure | undefined;
  for (const layer of layers) {
    const failure = checkLayer(layer, imageDigest, check);
    if (!failure) return { verified: true, evidence: `signature layer ${layer.digest}` };
    if (!furthest || failure.stage > furthest.stage) furthest = failure;
  }
  return { verified: false, ...(furthest ?? { stage: Stage.Material, reason: 'signature not found' }) };
}

function checkLayer(
  layer: SignatureLayer,
  imageDigest: string,
  check: AttestorCheck,
): StageFailure | undefined {
  const { annotations } = layer;
  const signer = resolveSigner(check, () => layerCertificate(layer, 'signature'));
  if ('stage' in signer) return signer;

  const signature = annotations[COSIGN_SIGNATURE_ANNOTATION];
  const hash = check.signer.hash;
  if (!signature || !verifyRawSignature(layer.payload, Buffer.from(signature, 'base64'), signer.key, hash)) {
    return { stage: Stage.Signature, reason: 'invalid signature' };
  }

  const times: SigningTime[] = [];
  const log = checkLog(layer, signature, signer, check);
  if ('stage' in log) return log;
  if (log.time) times.push(log.time);

  const timestamp = checkLayerTimestamp(layer, Buffer.from(signature, 'base64'), check);
  if (timestamp && 'stage' in timestamp) return timestamp;
  if (timestamp) times.push(timestamp);

  const certificate = checkSignerCertificate(signer, times, check);
  if (certificate) return certificate;

  const claims = parseSimpleSigningPayload(layer.payload);
  if (!claims) {
    return { stage: Stage.Payload, reason: 'signature payload is not a cosign simple-signing document' };
  }
  if (claims.dockerManifestDigest !== imageDigest) {
    return {
      stage: Stage.Digest,
      reason: `signature is for digest ${claims.dockerManifestDigest ?? '(none)'}, not ${imageDigest}`,
    };
  }
  const mismatch = annotationMismatch(check.annotations, claims.optional);
  return mismatch ? { stage: Stage.Annotations, reason: mismatch } : undefined;
}

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
  return check.tlog.required ? { stage: Stage.Log, reason } : { time: undefined };
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
 * The Rekor bundle annotation, verified offline. Required: a missing or invalid proof fails.
 * Not required: a valid proof still dates the signature; an invalid one is not used.
 */
function checkLog(layer: SignatureLayer, signature: string, signer: Signer, check: AttestorCheck): LogProof {
  const bundle = layerRekorBundle(layer, check, 'signature');
  if (!('body' in bundle)) return bundle;
  const verified = verifyRekorBundle(bundle, check.tlog.logs);
  if (!verified.ok) return logProblem(check, verified.reason);
  const mismatch = rekorEntryMismatch(verified.entry, {
    signature,
    payload: layer.payload,
    key: signer.key,
    certificate: signer.certificate,
  });
  if (mismatch) return logProblem(check, mismatch);
  return {
    time: { time: verified.integratedTime, source: `Rekor integrated time, ${verified.log.baseURL}` },
  };
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
          reason: "missing RFC 3161 timestamp: the policy's ctlog.tsaCertChain requires one",
        }
      : undefined;
  }
  const timestamp = parseTimestampAnnotation(annotation);
  if (typeof timestamp === 'string') {
    return required
      ? { stage: Stage.Timestamp, reason: `invalid RFC 3161 timestamp: ${timestamp}` }
      : undefined;
  }
  const result = verifyTimestamp(timestamp, Buffer.from(imprint), authorities);
  if (!result.ok) return required ? { stage: Stage.Timestamp, reason: result.reason } : undefined;
  return { time: result.time, source: `RFC 3161 timestamp, ${result.authority}` };
}
