import type { KeyObject } from 'node:crypto';
import type { X509Certificate } from '@sigstore/core';
import { COSIGN_SIGNATURE_ANNOTATION, type SignatureLayer } from '../oci/cosign';
import { certificateKey, readCertificatesPem, type SigningTime, type TrustedPath } from './certificates';
import {
  annotationMismatch,
  checkCertificateChain,
  checkIdentity,
  checkSct,
  checkValidity,
  Stage,
  type AttestorCheck,
  type StageFailure,
} from './checks';
import { parseSimpleSigningPayload } from './payload';
import {
  COSIGN_REKOR_BUNDLE_ANNOTATION,
  parseRekorBundle,
  rekorEntryMismatch,
  verifyRekorBundle,
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
  const signer = resolveSigner(layer, check);
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

  const timestamp = checkTimestamp(layer, signature, check);
  if (timestamp && 'stage' in timestamp) return timestamp;
  if (timestamp) times.push(timestamp);

  if (signer.paths) {
    const sct = checkSct(signer.paths, check);
    if (sct) return sct;
    const validity = checkValidity(signer.paths, times, check);
    if (validity) return validity;
  }

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

/** Who signed a layer: the attestor's key, or its certificate with the chains that trust it. */
export interface LayerSigner {
  readonly key: KeyObject;
  readonly certificate: X509Certificate | undefined;
  /** Trusted chains of a certificate signer (for SCT and validity); undefined for a key. */
  readonly paths: readonly TrustedPath[] | undefined;
}

/**
 * The signer of a `.sig` or `.att` layer: the attestor's key, or the layer's certificate (or the
 * attestor's pinned one), chained to a trusted CA and matching the attestor's identity.
 */
export function resolveSigner(
  layer: SignatureLayer,
  check: AttestorCheck,
  what: 'signature' | 'attestation' = 'signature',
): LayerSigner | StageFailure {
  const { signer } = check;
  if (signer.kind === 'key') return { key: signer.key, certificate: undefined, paths: undefined };
  let leaf = signer.pinned;
  let untrusted: X509Certificate[] = [];
  if (!leaf) {
    const annotation = layer.annotations[COSIGN_CERTIFICATE_ANNOTATION];
    leaf = readCertificatesPem(annotation)?.[0];
    if (!leaf) {
      return {
        stage: Stage.Material,
        reason: annotation
          ? `the ${what} certificate is unreadable`
          : `the ${what} has no certificate (it was made with a key, not keylessly)`,
      };
    }
    untrusted = readCertificatesPem(layer.annotations[COSIGN_CHAIN_ANNOTATION]) ?? [];
  }
  const chain = checkCertificateChain(leaf, untrusted, signer);
  if ('stage' in chain) return chain;
  const identity = checkIdentity(leaf, check);
  if (identity) return identity;
  return { key: certificateKey(leaf), certificate: leaf, paths: chain.paths };
}

/**
 * The Rekor bundle annotation, verified offline. Required: a missing or invalid proof fails.
 * Not required: a valid proof still dates the signature; an invalid one is not used.
 */
function checkLog(
  layer: SignatureLayer,
  signature: string,
  signer: LayerSigner,
  check: AttestorCheck,
): { readonly time: SigningTime | undefined } | StageFailure {
  const annotation = layer.annotations[COSIGN_REKOR_BUNDLE_ANNOTATION];
  const fail = (reason: string) => (check.tlog.required ? { stage: Stage.Log, reason } : { time: undefined });
  if (!annotation) {
    return fail(
      'missing transparency-log proof: the signature has no Rekor bundle, and imagegate checks the log offline only (rekor.ignoreTlog: true accepts signatures without one)',
    );
  }
  const bundle = parseRekorBundle(annotation);
  if (typeof bundle === 'string') return fail(`invalid transparency-log proof: ${bundle}`);
  const verified = verifyRekorBundle(bundle, check.tlog.logs);
  if (!verified.ok) return fail(verified.reason);
  const mismatch = rekorEntryMismatch(verified.entry, {
    signature,
    payload: layer.payload,
    key: signer.key,
    certificate: signer.certificate,
  });
  if (mismatch) return fail(mismatch);
  return {
    time: { time: verified.integratedTime, source: `Rekor integrated time, ${verified.log.baseURL}` },
  };
}

/** The RFC 3161 timestamp annotation: required with `ctlog.tsaCertChain`, else used when it verifies. */
function checkTimestamp(
  layer: SignatureLayer,
  signature: string,
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
  const result = verifyTimestamp(timestamp, Buffer.from(signature, 'base64'), authorities);
  if (!result.ok) return required ? { stage: Stage.Timestamp, reason: result.reason } : undefined;
  return { time: result.time, source: `RFC 3161 timestamp, ${result.authority}` };
}
