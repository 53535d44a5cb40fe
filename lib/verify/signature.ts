import { verify as cryptoVerify, type KeyObject } from 'node:crypto';
import type { SignatureHash } from './keys';

/**
 * Verifies a signature over raw bytes as cosign's legacy verifiers do: ECDSA with `hash` in ASN.1
 * DER or IEEE P1363 (r||s), RSA PKCS#1 v1.5 with `hash`, pure Ed25519.
 */
export function verifyRawSignature(
  data: Uint8Array,
  signature: Buffer,
  key: KeyObject,
  hash: SignatureHash = 'sha256',
): boolean {
  try {
    if (key.asymmetricKeyType === 'ed25519') return cryptoVerify(null, data, key, signature);
    if (key.asymmetricKeyType === 'ec') {
      return (
        cryptoVerify(hash, data, { key, dsaEncoding: 'der' }, signature) ||
        cryptoVerify(hash, data, { key, dsaEncoding: 'ieee-p1363' }, signature)
      );
    }
    return cryptoVerify(hash, data, key, signature);
  } catch {
    return false;
  }
}
