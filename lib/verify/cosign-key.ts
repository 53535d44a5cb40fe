import { verify as cryptoVerify } from 'node:crypto';
import type { SignatureLayer } from '../oci/cosign';
import { COSIGN_SIGNATURE_ANNOTATION } from '../oci/cosign';
import type { SignatureHash, VerificationKey } from './keys';
import { parseSimpleSigningPayload } from './payload';

/** What a key-based check of one image's `.sig` layers found. */
export type KeyVerification =
  | { readonly verified: true; readonly layerDigest: string }
  | { readonly verified: false; readonly reason: string };

export interface KeyCheck {
  readonly key: VerificationKey;
  readonly hash: SignatureHash;
  /** Entry `annotations`: each must appear with the same string value in the payload's `optional`. */
  readonly annotations: Readonly<Record<string, string>>;
}

/** How far a layer got; the failure of the layer that got furthest is reported. */
const Stage = { Signature: 0, Payload: 1, Digest: 2, Annotations: 3 } as const;
type Stage = (typeof Stage)[keyof typeof Stage];

/**
 * Verifies cosign legacy signatures with a public key, as `cosign verify --key` does: one layer
 * whose signature verifies over the raw payload, whose payload names `imageDigest`, and whose
 * `optional` map carries the required annotations, is enough.
 */
export function verifyLayersWithKey(
  layers: readonly SignatureLayer[],
  imageDigest: string,
  check: KeyCheck,
): KeyVerification {
  if (layers.length === 0) return { verified: false, reason: 'signature not found' };
  let furthest: { stage: Stage; reason: string } = { stage: Stage.Signature, reason: 'invalid signature' };
  for (const layer of layers) {
    const failure = checkLayer(layer, imageDigest, check);
    if (!failure) return { verified: true, layerDigest: layer.digest };
    if (failure.stage > furthest.stage) furthest = failure;
  }
  return { verified: false, reason: furthest.reason };
}

function checkLayer(
  layer: SignatureLayer,
  imageDigest: string,
  check: KeyCheck,
): { stage: Stage; reason: string } | undefined {
  const signature = layer.annotations[COSIGN_SIGNATURE_ANNOTATION];
  if (!signature || !verifySignature(layer.payload, Buffer.from(signature, 'base64'), check)) {
    return { stage: Stage.Signature, reason: 'invalid signature' };
  }
  const claims = parseSimpleSigningPayload(layer.payload);
  if (!claims)
    return { stage: Stage.Payload, reason: 'signature payload is not a cosign simple-signing document' };
  if (claims.dockerManifestDigest !== imageDigest) {
    return {
      stage: Stage.Digest,
      reason: `signature is for digest ${claims.dockerManifestDigest ?? '(none)'}, not ${imageDigest}`,
    };
  }
  for (const [name, expected] of Object.entries(check.annotations)) {
    const actual = claims.optional?.[name];
    if (actual !== expected) {
      return {
        stage: Stage.Annotations,
        reason: `annotation ${name} is ${actual === undefined ? 'missing' : JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`,
      };
    }
  }
  return undefined;
}

function verifySignature(payload: Uint8Array, signature: Buffer, check: KeyCheck): boolean {
  const { key } = check.key;
  try {
    if (key.asymmetricKeyType === 'ed25519') return cryptoVerify(null, payload, key, signature);
    if (key.asymmetricKeyType === 'ec') {
      // cosign accepts ASN.1 DER and IEEE P1363 (r||s) ECDSA signatures.
      return (
        cryptoVerify(check.hash, payload, { key, dsaEncoding: 'der' }, signature) ||
        cryptoVerify(check.hash, payload, { key, dsaEncoding: 'ieee-p1363' }, signature)
      );
    }
    return cryptoVerify(check.hash, payload, key, signature);
  } catch {
    return false;
  }
}
