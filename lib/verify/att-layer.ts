/** cosign's legacy `.att` layers: the sibling of the `.sig` layer check (sig-layer.ts). */
import type { SignatureLayer } from '../model/evidence';
import type { SigningTime } from './certificates';
import { matchStatementSubject, statementMismatch, verifyDsseSignature, type DsseEnvelope } from './intoto';
import {
  checkLayerTimestamp,
  layerCertificate,
  layerRekorBundle,
  logProblem,
  type LogProof,
} from './layer-proofs';
import { Stage, type StageFailure } from '../model/verification';
import { verifySignedEntryTimestamp } from './rekor';
import { attestationEntryMismatch } from './rekor-entries';
import { checkSignerCertificate, resolveSigner, type Signer } from './signer';
import type { AttestorCheck } from './spec';

/**
 * One cosign legacy `.att` layer (cosign-formats §2), its DSSE envelope already read: a signature
 * of the envelope by the attestor's key or certificate over its pre-authentication encoding; the
 * certificate chains and carries the identity; the Rekor bundle annotation (an `intoto` or `dsse`
 * entry for these envelope bytes) and RFC 3161 timestamp verify as the attestor requires; and the
 * statement's subject names the image digest, with the attestor's annotations.
 */
export function checkAttestationLayer(
  layer: SignatureLayer,
  envelope: DsseEnvelope,
  imageDigest: string,
  check: AttestorCheck,
): StageFailure | undefined {
  const signer = resolveSigner(check, () => layerCertificate(layer, 'attestation'));
  if ('stage' in signer) return signer;
  // cosign verifies DSSE with threshold 1: any signature of the envelope by this signer.
  const signed = envelope.signatures.some((signature) =>
    verifyDsseSignature(envelope.payloadType, envelope.payload, signature.sig, signer.key, check.signer.hash),
  );
  if (!signed) return { stage: Stage.Signature, failure: 'INVALID_SIGNATURE', reason: 'invalid signature' };

  const times: SigningTime[] = [];
  const log = checkLog(layer, signer, check);
  if ('stage' in log) return log;
  if (log.time) times.push(log.time);
  const timestamp = checkLayerTimestamp(layer, layer.payload, check);
  if (timestamp && 'stage' in timestamp) return timestamp;
  if (timestamp) times.push(timestamp);

  const certificate = checkSignerCertificate(signer, times, check);
  if (certificate) return certificate;
  const matched = matchStatementSubject(envelope.payload, imageDigest);
  return statementMismatch(matched, check);
}

/**
 * The `dev.sigstore.cosign/bundle` annotation of a `.att` layer, offline: the SET by a trusted
 * log key valid at the integrated time, over an `intoto` (0.0.1, 0.0.2) or `dsse` (0.0.1) entry
 * whose envelope hash is the sha256 of the layer bytes and whose keys are the signer's (cosign
 * skips the signature comparison for attestations). Required: a missing or invalid proof fails;
 * otherwise a valid one dates the signature.
 */
function checkLog(layer: SignatureLayer, signer: Signer, check: AttestorCheck): LogProof {
  const bundle = layerRekorBundle(layer, check, 'attestation');
  if (!('body' in bundle)) return bundle;
  const set = verifySignedEntryTimestamp(bundle, check.tlog.logs);
  if (!set.ok) return logProblem(check, set.reason);
  const mismatch = attestationEntryMismatch(bundle.body, layer.payload, signer);
  if (mismatch) return logProblem(check, `invalid transparency-log proof: ${mismatch}`);
  return { time: { time: set.integratedTime, source: `Rekor integrated time, ${set.log.baseURL}` } };
}
