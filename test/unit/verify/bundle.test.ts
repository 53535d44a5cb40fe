/**
 * Sigstore bundles (cosign v3) against the private test Sigstore, and how `type` chooses between
 * bundles and legacy `.sig` signatures (ADR 6).
 */
import { sha256Digest } from '../../../lib/oci/registry';
import type { SigstoreBundleArtifact } from '../../../lib/model/evidence';
import type { AttestorSet } from '../../../lib/policy/types';
import { evaluateAttestorSets } from '../../../lib/verify/signatures';
import type { AttestorEvidence } from '../../../lib/verify/spec';
import { verifyBundleArtifacts } from '../../../lib/verify/bundle';
import { resolveCheck } from '../../../lib/verify/spec';
import {
  loadTrustRoots,
  PUBLIC_GOOD_TRUST_ROOT,
  publicGoodTrustRoots,
  type TrustRoots,
} from '../../../lib/verify/trust-roots';
import { generateKeyPair, simpleSigningPayload } from '../../support/cosign-signer';
import {
  createTestSigstore,
  legacyAnnotations,
  legacyLayer,
  signBundle,
  type BundleOptions,
  type SigningIdentity,
  type TestSigstore,
  GITHUB,
  WORKFLOW,
} from '../../support/sigstore';
import { DIGEST_A, DIGEST_B } from '../../support/builders';
import { attestorFrom, block, entryFrom } from '../../support/attestor-policies';

let sigstore: TestSigstore;
let trust: TrustRoots;
let signer: SigningIdentity;

beforeAll(() => {
  sigstore = createTestSigstore('bundles');
  trust = loadTrustRoots([PUBLIC_GOOD_TRUST_ROOT, { name: 'bundles.json', json: sigstore.trustedRoot() }]);
  signer = sigstore.issue({ uri: WORKFLOW, issuer: GITHUB });
});

function artifact(bundle: Record<string, unknown>): SigstoreBundleArtifact {
  const bytes = Buffer.from(JSON.stringify(bundle));
  return {
    manifestDigest: sha256Digest(bytes),
    mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
    bytes,
  };
}

const bundleBy = (identity: SigningIdentity = signer, options: BundleOptions = {}) =>
  artifact(signBundle(sigstore, DIGEST_A, identity, options));

const keylessLines = (extra: string[] = []) => [
  '- keyless:',
  `    subject: ${WORKFLOW}`,
  `    issuer: ${GITHUB}`,
  ...extra.flatMap((line) => line.split('\n')).map((line) => `    ${line}`),
];

function verify(artifacts: SigstoreBundleArtifact[], extra?: string[], now?: Date) {
  const verdict = verifyBundleArtifacts(
    artifacts,
    DIGEST_A,
    resolveCheck(attestorFrom(keylessLines(extra), { trust }), { trust, type: 'SigstoreBundle', now }),
  );
  return verdict.verified ? 'verified' : verdict.reason;
}

describe('Sigstore bundle verification', () => {
  test('a DSSE bundle by the right identity, logged in Rekor, passes', () => {
    expect(verify([bundleBy()])).toBe('verified');
  });

  test('no bundle: signature not found', () => {
    expect(verify([])).toBe('signature not found: no Sigstore bundle refers to the image');
  });

  test('a bundle for another image fails', () => {
    expect(verify([bundleBy(signer, { subjectDigest: DIGEST_B })])).toBe(
      `signature is for digest ${DIGEST_B}, not ${DIGEST_A}`,
    );
  });

  test('a bundle by another identity fails with both identities shown', () => {
    const stranger = sigstore.issue({ uri: 'https://github.com/evil/x', issuer: GITHUB });
    expect(verify([bundleBy(stranger)])).toBe(
      `signer identity mismatch: expected subject "${WORKFLOW}", found "https://github.com/evil/x"`,
    );
  });

  test('an untrusted CA fails', () => {
    const other = createTestSigstore('strangers');
    const foreign = other.issue({ uri: WORKFLOW, issuer: GITHUB });
    expect(verify([artifact(signBundle(other, DIGEST_A, foreign))])).toMatch(/^untrusted certificate chain/);
  });

  test('a tampered SET fails; a bundle without a Rekor entry fails when the log is required', () => {
    expect(verify([bundleBy(signer, { rekor: 'tampered' })])).toMatch(
      /^invalid transparency-log proof: inclusion promise could not be verified$/,
    );
    expect(verify([bundleBy(signer, { rekor: 'none' })])).toBe(
      'missing transparency-log proof: the Sigstore bundle has no Rekor entry',
    );
  });

  test('ignoreTlog: the bundle needs no entry, and a broken one is not used', () => {
    const extra = ['rekor:', '  ignoreTlog: true'];
    expect(verify([bundleBy(signer, { rekor: 'none' })], extra, new Date())).toBe('verified');
    expect(verify([bundleBy(signer, { rekor: 'tampered' })], extra, new Date())).toBe('verified');
    expect(verify([bundleBy(signer, { rekor: 'none', timestamp: true })], extra)).toBe('verified');
  });

  test('a certificate expired at the integrated time fails', () => {
    const start = new Date(Date.now() - 2 * 3600_000);
    const expired = sigstore.issue({
      uri: WORKFLOW,
      issuer: GITHUB,
      notBefore: start,
      notAfter: new Date(start.getTime() + 600_000),
    });
    expect(verify([bundleBy(expired)])).toMatch(
      /^certificate expired at signing time: valid \S+ to \S+, signed at \S+ \(Rekor integrated time\)$/,
    );
  });

  test('a tampered envelope fails as an invalid signature', () => {
    const bundle = signBundle(sigstore, DIGEST_A, signer) as { dsseEnvelope: { payload: string } };
    const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString('utf8')) as {
      predicateType: string;
    };
    statement.predicateType = 'https://example.com/other';
    bundle.dsseEnvelope.payload = Buffer.from(JSON.stringify(statement)).toString('base64');
    expect(verify([artifact(bundle as unknown as Record<string, unknown>)])).toBe('invalid signature');
  });

  test('an envelope with two signatures is refused', () => {
    const bundle = signBundle(sigstore, DIGEST_A, signer) as { dsseEnvelope: { signatures: unknown[] } };
    bundle.dsseEnvelope.signatures.push(bundle.dsseEnvelope.signatures[0]);
    expect(verify([artifact(bundle as unknown as Record<string, unknown>)])).toBe(
      'unreadable Sigstore bundle: invalid bundle (content.dsseEnvelope.signatures)',
    );
  });

  test('annotations are the in-toto subject’s (cosign v3 `-a`)', () => {
    const lines = [
      '- keyless:',
      `    subject: ${WORKFLOW}`,
      `    issuer: ${GITHUB}`,
      '  annotations:',
      '    env: prod',
    ];
    const check = resolveCheck(attestorFrom(lines, { trust }), { trust, type: 'SigstoreBundle' });
    expect(
      verifyBundleArtifacts([bundleBy(signer, { annotations: { env: 'prod' } })], DIGEST_A, check),
    ).toMatchObject({ verified: true });
    expect(verifyBundleArtifacts([bundleBy(signer)], DIGEST_A, check)).toMatchObject({
      reason: 'annotation env is missing, expected "prod"',
    });
  });

  test('a key attestor verifies a key-signed bundle; with rekor it needs the Rekor entry', () => {
    const key = generateKeyPair('ecdsa-p256');
    const signedWith = { privateKey: key.privateKey, publicKeyPem: key.publicKeyPem };
    const check = (extra: string[] = []) =>
      resolveCheck(
        attestorFrom(
          [
            '- keys:',
            '    publicKeys: |-',
            block(key.publicKeyPem, 6),
            ...extra.map((line) => `    ${line}`),
          ],
          { trust },
        ),
        { trust, type: 'SigstoreBundle' },
      );
    const keyBundle = (options: BundleOptions = {}) =>
      artifact(signBundle(sigstore, DIGEST_A, undefined, { key: signedWith, ...options }));
    expect(verifyBundleArtifacts([keyBundle({ rekor: 'none' })], DIGEST_A, check())).toMatchObject({
      verified: true,
    });
    expect(
      verifyBundleArtifacts(
        [keyBundle()],
        DIGEST_A,
        check(['rekor:', '  url: https://rekor.bundles.example']),
      ),
    ).toMatchObject({
      verified: true,
    });
    expect(
      verifyBundleArtifacts(
        [keyBundle({ rekor: 'none' })],
        DIGEST_A,
        check(['rekor:', '  url: https://rekor.bundles.example']),
      ),
    ).toMatchObject({ reason: 'missing transparency-log proof: the Sigstore bundle has no Rekor entry' });
    expect(verifyBundleArtifacts([bundleBy()], DIGEST_A, check())).toMatchObject({
      reason: 'invalid signature',
    });
  });

  test('an unreadable bundle is reported', () => {
    expect(verify([{ manifestDigest: DIGEST_B, mediaType: 'x', bytes: Buffer.from('{') }])).toMatch(
      /^unreadable Sigstore bundle: /,
    );
  });
});

describe('type: Cosign (bundles first, then .sig) and SigstoreBundle (bundles only)', () => {
  const payload = simpleSigningPayload('registry.example/acme/app', DIGEST_A);
  let legacySigned: AttestorEvidence['legacy'];
  let sets: readonly AttestorSet[];

  beforeAll(() => {
    legacySigned = { ok: true, layers: [legacyLayer(payload, legacyAnnotations(sigstore, payload, signer))] };
    sets = entryFrom(['attestors:', '  - entries:', ...keylessLines().map((line) => `      ${line}`)], {
      trust,
    }).attestorSets;
  });

  const evaluate = (evidence: AttestorEvidence, type: 'Cosign' | 'SigstoreBundle') =>
    evaluateAttestorSets(sets, DIGEST_A, () => evidence, { trust, type });

  test('Cosign: with no bundle the .sig signatures decide', () => {
    expect(evaluate({ legacy: legacySigned, bundles: { ok: true, bundles: [] } }, 'Cosign')).toEqual({
      status: 'pass',
    });
    expect(
      evaluate({ legacy: { ok: true, layers: [] }, bundles: { ok: true, bundles: [] } }, 'Cosign'),
    ).toEqual({
      status: 'fail',
      failure: 'NO_SIGNATURES',
      reason: 'signature not found',
    });
  });

  test('Cosign: when bundles exist only they count (as cosign v3)', () => {
    const stranger = sigstore.issue({ uri: 'https://github.com/evil/x', issuer: GITHUB });
    expect(
      evaluate({ legacy: { ok: true, layers: [] }, bundles: { ok: true, bundles: [bundleBy()] } }, 'Cosign'),
    ).toEqual({
      status: 'pass',
    });
    expect(
      evaluate({ legacy: legacySigned, bundles: { ok: true, bundles: [bundleBy(stranger)] } }, 'Cosign'),
    ).toMatchObject({
      status: 'fail',
      reason: expect.stringMatching(/^signer identity mismatch/) as string,
    });
  });

  test('Cosign: a bundle lookup that failed leaves the .sig signatures to decide only when they pass', () => {
    const down = { ok: false, trusted: 'unknown', reason: 'registry r.example answered HTTP 503' } as const;
    expect(evaluate({ legacy: legacySigned, bundles: down }, 'Cosign')).toEqual({ status: 'pass' });
    expect(evaluate({ legacy: { ok: true, layers: [] }, bundles: down }, 'Cosign')).toEqual({
      status: 'error',
      reason: 'registry r.example answered HTTP 503',
    });
    const corrupt = { ok: false, trusted: false, reason: 'digest mismatch' } as const;
    expect(evaluate({ legacy: { ok: true, layers: [] }, bundles: corrupt }, 'Cosign')).toEqual({
      status: 'fail',
      failure: 'NO_SIGNATURES',
      reason: 'signature not found; digest mismatch',
    });
  });

  test('SigstoreBundle: the .sig signatures do not count', () => {
    expect(evaluate({ legacy: legacySigned, bundles: { ok: true, bundles: [] } }, 'SigstoreBundle')).toEqual({
      status: 'fail',
      failure: 'NO_SIGNATURES',
      reason: 'signature not found: no Sigstore bundle refers to the image',
    });
    expect(
      evaluate({ legacy: legacySigned, bundles: { ok: true, bundles: [bundleBy()] } }, 'SigstoreBundle'),
    ).toEqual({
      status: 'pass',
    });
    expect(
      evaluate(
        { legacy: legacySigned, bundles: { ok: false, trusted: 'unknown', reason: 'timeout' } },
        'SigstoreBundle',
      ),
    ).toEqual({ status: 'error', reason: 'timeout' });
  });

  test('the trust roots are the caller’s: the public-good root alone does not trust the mock CA', () => {
    const legacyOnly: AttestorEvidence = { legacy: legacySigned, bundles: { ok: true, bundles: [] } };
    expect(
      evaluateAttestorSets(sets, DIGEST_A, () => legacyOnly, {
        trust: publicGoodTrustRoots(),
        type: 'Cosign',
      }),
    ).toMatchObject({
      status: 'fail',
      failure: 'CHAIN',
      reason: expect.stringMatching(/^untrusted certificate chain/) as string,
    });
  });
});
