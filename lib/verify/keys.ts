import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { ImagegateError } from '../errors';

/** Hash algorithms Kyverno's `signatureAlgorithm` accepts; cosign's default is sha256. */
export const SIGNATURE_HASHES = ['sha224', 'sha256', 'sha384', 'sha512'] as const;
export type SignatureHash = (typeof SIGNATURE_HASHES)[number];

/** A public key from a policy, ready to verify with. */
export interface VerificationKey {
  readonly key: KeyObject;
  /** sha256 of the DER SubjectPublicKeyInfo; identifies the key in cache keys and logs. */
  readonly fingerprint: string;
}

export class KeyParseError extends ImagegateError<'INVALID_PUBLIC_KEY' | 'UNSUPPORTED_KEY_TYPE'> {}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;
const SUPPORTED_KEY_TYPES = new Set(['ec', 'rsa', 'ed25519']);

/**
 * Parses every PEM `PUBLIC KEY` block in `pem` (Kyverno allows several keys in one
 * `publicKeys` string). Throws {@link KeyParseError} when there is none or one is unusable.
 */
export function parsePublicKeys(pem: string): VerificationKey[] {
  const blocks = pem.match(PEM_BLOCK) ?? [];
  if (blocks.length === 0) {
    throw new KeyParseError(
      'INVALID_PUBLIC_KEY',
      'no PEM public key found (expected -----BEGIN PUBLIC KEY-----)',
    );
  }
  return blocks.map((block) => {
    let key: KeyObject;
    try {
      key = createPublicKey({ key: block, format: 'pem' });
    } catch (error) {
      throw new KeyParseError('INVALID_PUBLIC_KEY', `unreadable public key: ${(error as Error).message}`, {
        cause: error,
      });
    }
    if (!SUPPORTED_KEY_TYPES.has(key.asymmetricKeyType ?? '')) {
      throw new KeyParseError(
        'UNSUPPORTED_KEY_TYPE',
        `unsupported public key type ${key.asymmetricKeyType ?? 'unknown'} (ECDSA, RSA and Ed25519 are supported)`,
      );
    }
    const der = key.export({ format: 'der', type: 'spki' });
    return { key, fingerprint: createHash('sha256').update(der).digest('hex') };
  });
}
