/**
 * Key-based verification of `.sig` layers through the webhook's own path (lib/verify/legacy.ts
 * with a `keys` attestor), in the small shape the key tests assert on.
 */
import type { SignatureLayer } from '../../lib/model/evidence';
import type { KeyAttestor } from '../../lib/policy/types';
import { resolveCheck } from '../../lib/verify/spec';
import type { SignatureHash, VerificationKey } from '../../lib/verify/keys';
import { verifyLegacySignatures } from '../../lib/verify/sig-layer';
import { publicGoodTrustRoots } from '../../lib/verify/trust-roots';

export interface KeyCheck {
  readonly key: VerificationKey;
  readonly hash: SignatureHash;
  readonly annotations: Readonly<Record<string, string>>;
}

export type KeyVerification =
  | { readonly verified: true; readonly layerDigest: string }
  | { readonly verified: false; readonly reason: string };

/** A `keys` attestor without `rekor` (no transparency log needed, ADR 1). */
export function verifyLayersWithKey(
  layers: readonly SignatureLayer[],
  imageDigest: string,
  check: KeyCheck,
): KeyVerification {
  const attestor: KeyAttestor = {
    path: 'spec.rules[0].verifyImages[0].attestors[0].entries[0].keys',
    kind: 'key',
    key: check.key,
    hash: check.hash,
    annotations: check.annotations,
    repository: undefined,
    signatureLocation: undefined,
    rekor: { required: false, url: undefined, publicKey: undefined },
    ctlog: { requireSct: false, publicKey: undefined, tsaCertChain: undefined },
  };
  const verdict = verifyLegacySignatures(
    layers,
    imageDigest,
    resolveCheck(attestor, { trust: publicGoodTrustRoots(), type: 'Cosign' }),
  );
  return verdict.verified
    ? { verified: true, layerDigest: verdict.evidence.replace(/^signature layer /, '') }
    : { verified: false, reason: verdict.reason };
}
