/** cosign's legacy `.sig` layers (cosign-formats §1.5), checked against one attestor. */
import { COSIGN_SIGNATURE_ANNOTATION } from '../model/cosign-format';
import type { SignatureLayer } from '../model/evidence';
import type { SigningTime } from './certificates';
import {
  checkLayerTimestamp,
  layerCertificate,
  layerRekorBundle,
  logProblem,
  type LogProof,
} from './layer-proofs';
import { noSignatures, Stage, type SignatureVerdict, type StageFailure } from '../model/verification';
import { parseSimpleSigningPayload } from './payload';
import { verifyRekorBundle } from './rekor';
import { signatureEntryMismatch } from './rekor-entries';
import { verifyRawSignature } from './signature';
import { annotationMismatch, checkSignerCertificate, resolveSigner, type Signer } from './signer';
import type { AttestorCheck } from './spec';

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
  if (layers.length === 0) return noSignatures('signature not found');
  let furthest: StageFailure | undefined;
  for (const layer of layers) {
    const failure = checkLayer(layer, imageDigest, check);
    if (!failure) return { verified: true, evidence: `signature layer ${layer.digest}` };
    if (!furthest || failure.stage > furthest.stage) furthest = failure;
  }
  return furthest ? { verified: false, ...furthest } : noSignatures('signature not found');
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
    return { stage: Stage.Signature, failure: 'INVALID_SIGNATURE', reason: 'invalid signature' };
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
    return {
      stage: Stage.Payload,
      failure: 'PAYLOAD',
      reason: 'signature payload is not a cosign simple-signing document',
    };
  }
  if (claims.dockerManifestDigest !== imageDigest) {
    return {
      stage: Stage.Digest,
      failure: 'DIGEST_MISMATCH',
      reason: `signature is for digest ${claims.dockerManifestDigest ?? '(none)'}, not ${imageDigest}`,
    };
  }
  const mismatch = annotationMismatch(check.annotations, claims.optional);
  return mismatch ? { stage: Stage.Annotations, failure: 'ANNOTATIONS', reason: mismatch } : undefined;
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
  const mismatch = signatureEntryMismatch(verified.entry, {
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
