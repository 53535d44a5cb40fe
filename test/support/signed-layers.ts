/** Builds cosign `.sig` layers in memory for the verify tests (no registry involved). */
import { createHash } from 'node:crypto';
import { COSIGN_SIGNATURE_ANNOTATION } from '../../lib/model/cosign-format';
import type { SignatureLayer, SignatureLocation } from '../../lib/model/evidence';
import { parseImageReference } from '../../lib/model/image';
import type { KeyAttestor } from '../../lib/policy/types';
import type { SignatureHash } from '../../lib/verify/keys';
import { parsePublicKeys } from '../../lib/verify/keys';
import { signPayload, type TestKeyPair } from './cosign-signer';

export const SIMPLE_SIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json';

/** A layer holding `payload` with `signature` (base64) in cosign's annotation; `null` leaves it out. */
export function signatureLayer(payload: Uint8Array, signature: string | null): SignatureLayer {
  return {
    mediaType: SIMPLE_SIGNING,
    digest: `sha256:${createHash('sha256').update(payload).digest('hex')}`,
    annotations: signature === null ? {} : { [COSIGN_SIGNATURE_ANNOTATION]: signature },
    payload,
  };
}

/** A layer of `payload` signed by `pair` the way `cosign sign --key` signs. */
export function signedLayer(payload: Buffer, pair: TestKeyPair, hash = 'sha256'): SignatureLayer {
  return signatureLayer(payload, signPayload(payload, pair.privateKey, hash));
}

/** A key attestor for `pair`, as the policy parser would build it. */
export function keyAttestor(
  pair: TestKeyPair,
  options: {
    hash?: SignatureHash;
    annotations?: Record<string, string>;
    repository?: string;
    path?: string;
  } = {},
): KeyAttestor {
  return {
    path: options.path ?? 'spec.rules[0].verifyImages[0].attestors[0].entries[0].keys.publicKeys',
    kind: 'key',
    key: parsePublicKeys(pair.publicKeyPem)[0]!,
    hash: options.hash ?? 'sha256',
    annotations: options.annotations ?? {},
    repository: options.repository,
    signatureLocation: options.repository === undefined ? undefined : locationOf(options.repository),
    rekor: { required: false, url: undefined, publicKey: undefined },
    ctlog: { requireSct: false, publicKey: undefined, tsaCertChain: undefined },
  };
}

/** A `repository` field as the compiler parses it: the registry and repository it names. */
function locationOf(repository: string): SignatureLocation {
  const { registry, repository: name } = parseImageReference(repository);
  return { registry, repository: name };
}
