import type { AttestorSet, KeyAttestor, LeafAttestor } from '../../../lib/policy/types';
import { leafAttestors } from '../../../lib/verify/attestor-sets';
import { evaluateAttestorSets as evaluateWithEvidence } from '../../../lib/verify/signatures';
import type { FetchedSignatures } from '../../../lib/verify/spec';
import { publicGoodTrustRoots } from '../../../lib/verify/trust-roots';
import { generateKeyPair, simpleSigningPayload, type TestKeyPair } from '../../support/cosign-signer';
import { DIGEST_A } from '../../support/builders';
import { keyAttestor, signedLayer } from '../../support/signed-layers';

const payload = simpleSigningPayload('ghcr.io/org/app', DIGEST_A);
const [alice, bob, carol] = [
  generateKeyPair('ecdsa-p256'),
  generateKeyPair('ecdsa-p256'),
  generateKeyPair('ed25519'),
];

/** Signatures present for the image: one layer by each signer. */
function signedBy(...signers: TestKeyPair[]): FetchedSignatures {
  return { ok: true, layers: signers.map((pair) => signedLayer(payload, pair)) };
}

function set(attestors: KeyAttestor[], count?: number): AttestorSet {
  return { path: 'spec.rules[0].verifyImages[0].attestors[0]', count, entries: attestors };
}

/** The sets against legacy `.sig` signatures only (no bundles), with the public-good trust root. */
function evaluateAttestorSets(
  sets: readonly AttestorSet[],
  digest: string,
  signaturesFor: (attestor: LeafAttestor) => FetchedSignatures,
) {
  return evaluateWithEvidence(
    sets,
    digest,
    (item) => ({ legacy: signaturesFor(item), bundles: { ok: true, bundles: [] } }),
    { trust: publicGoodTrustRoots(), type: 'Cosign' },
  );
}

const attestor = (pair: TestKeyPair, repository?: string) =>
  keyAttestor(pair, repository ? { repository } : {});

describe('evaluateAttestorSets', () => {
  test('without count every attestor must verify', () => {
    const sets = [set([attestor(alice), attestor(bob)])];

    expect(evaluateAttestorSets(sets, DIGEST_A, () => signedBy(alice, bob))).toEqual({ status: 'pass' });
    expect(evaluateAttestorSets(sets, DIGEST_A, () => signedBy(alice))).toEqual({
      status: 'fail',
      failure: 'INVALID_SIGNATURE',
      reason: 'invalid signature',
    });
  });

  test('count N of M: N signatures are enough, N-1 are not', () => {
    const sets = [set([attestor(alice), attestor(bob), attestor(carol)], 2)];

    expect(evaluateAttestorSets(sets, DIGEST_A, () => signedBy(bob, carol))).toEqual({ status: 'pass' });
    expect(evaluateAttestorSets(sets, DIGEST_A, () => signedBy(carol)).status).toBe('fail');
  });

  test('every set must pass', () => {
    const sets = [set([attestor(alice)]), set([attestor(bob)])];

    expect(evaluateAttestorSets(sets, DIGEST_A, () => signedBy(alice, bob))).toEqual({ status: 'pass' });
    expect(evaluateAttestorSets(sets, DIGEST_A, () => signedBy(alice)).status).toBe('fail');
  });

  test('no signatures at all: signature not found', () => {
    expect(
      evaluateAttestorSets([set([attestor(alice)])], DIGEST_A, () => ({ ok: true, layers: [] })),
    ).toEqual({
      status: 'fail',
      failure: 'NO_SIGNATURES',
      reason: 'signature not found',
    });
  });

  test('signatures that could not be fetched make an error when they would decide the set', () => {
    const timeout = new Error('registry ghcr.io timed out');
    const unreachable: FetchedSignatures = {
      ok: false,
      trusted: 'unknown',
      reason: 'registry ghcr.io timed out',
      cause: timeout,
    };

    const outcome = evaluateAttestorSets([set([attestor(alice)])], DIGEST_A, () => unreachable);
    expect(outcome).toEqual({ status: 'error', reason: 'registry ghcr.io timed out', cause: timeout });
    expect(outcome.status === 'error' && outcome.cause).toBe(timeout);
  });

  test('an unreachable location does not matter when the others already decide', () => {
    const sets = [set([attestor(alice, 'ghcr.io/org/sigs'), attestor(bob, 'quay.io/org/sigs')], 1)];
    const byLocation = (item: LeafAttestor): FetchedSignatures =>
      item.repository === 'ghcr.io/org/sigs'
        ? signedBy(alice)
        : { ok: false, trusted: 'unknown', reason: 'registry quay.io is unreachable' };

    expect(evaluateAttestorSets(sets, DIGEST_A, byLocation)).toEqual({ status: 'pass' });
  });

  test('a failure that errors cannot rescue stays a failure', () => {
    const sets = [set([attestor(alice, 'ghcr.io/org/sigs'), attestor(bob, 'quay.io/org/sigs')])];
    const byLocation = (item: LeafAttestor): FetchedSignatures =>
      item.repository === 'ghcr.io/org/sigs'
        ? signedBy(carol)
        : { ok: false, trusted: 'unknown', reason: 'registry quay.io is unreachable' };

    expect(evaluateAttestorSets(sets, DIGEST_A, byLocation)).toEqual({
      status: 'fail',
      failure: 'INVALID_SIGNATURE',
      reason: 'invalid signature',
    });
  });

  test('content that must not be trusted is a failure, not an error', () => {
    const malformed: FetchedSignatures = {
      ok: false,
      trusted: false,
      reason: 'signature layer without a sha256 digest',
    };

    expect(evaluateAttestorSets([set([attestor(alice)])], DIGEST_A, () => malformed)).toEqual({
      status: 'fail',
      failure: 'UNTRUSTED_CONTENT',
      reason: 'signature layer without a sha256 digest',
    });
  });

  test('a failing set wins over an erroring one', () => {
    const sets = [set([attestor(alice, 'quay.io/org/sigs')]), set([attestor(bob, 'ghcr.io/org/sigs')])];
    const byLocation = (item: LeafAttestor): FetchedSignatures =>
      item.repository === 'ghcr.io/org/sigs'
        ? { ok: true, layers: [] }
        : { ok: false, trusted: 'unknown', reason: 'down' };

    expect(evaluateAttestorSets(sets, DIGEST_A, byLocation)).toEqual({
      status: 'fail',
      failure: 'NO_SIGNATURES',
      reason: 'signature not found',
    });
  });

  test('a nested attestor set counts as one entry', () => {
    const nested: AttestorSet = {
      path: 'spec.rules[0].verifyImages[0].attestors[0]',
      count: 1,
      entries: [
        attestor(alice),
        {
          path: 'spec.rules[0].verifyImages[0].attestors[0].entries[1].attestor',
          kind: 'set',
          set: set([attestor(bob), attestor(carol)]),
        },
      ],
    };

    expect(evaluateAttestorSets([nested], DIGEST_A, () => signedBy(bob, carol))).toEqual({ status: 'pass' });
    expect(evaluateAttestorSets([nested], DIGEST_A, () => signedBy(bob)).status).toBe('fail');
    expect(leafAttestors([nested]).map((item) => (item as KeyAttestor).key.fingerprint)).toEqual(
      [alice, bob, carol].map((pair) => keyAttestor(pair).key.fingerprint),
    );
  });
});
