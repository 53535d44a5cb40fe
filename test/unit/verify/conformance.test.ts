/**
 * Every vector of shared/conformance (copied byte-exact under test/fixtures/vendor/conformance)
 * gives its expected result (see its README.md): legacy keyless `.sig`, the Rekor SET example,
 * DSSE attestations with a key, the cosign OCI bundle, and the sigstore-conformance subset,
 * `_fail` cases included. No network: trust comes from the vectors' trusted roots.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { SignatureLayer } from '../../../lib/model/evidence';
import { verifySigstoreBundle, type BundleSubject } from '../../../lib/verify/bundle';
import { resolveCheck } from '../../../lib/verify/spec';
import { matchStatementSubject, parseDsseEnvelope, verifyDsseSignature } from '../../../lib/verify/intoto';
import { parsePublicKeys } from '../../../lib/verify/keys';
import { verifyLegacySignatures } from '../../../lib/verify/sig-layer';
import { parseRekorBundle, verifyRekorBundle, type RekorBundle } from '../../../lib/verify/rekor';
import { loadTrustRoots, type TrustRoots } from '../../../lib/verify/trust-roots';
import { attestorFrom, block } from '../../support/attestor-policies';

const VECTORS = join(__dirname, '../../fixtures/vendor/conformance');
const read = (...path: string[]) => readFileSync(join(VECTORS, ...path));
const readJson = (...path: string[]): unknown => JSON.parse(read(...path).toString('utf8'));

const publicGood = loadTrustRoots([{ name: 'public-good', json: readJson('trusted_root.public-good.json') }]);

describe('legacy-sig-keyless: a real cosign keyless `.sig` layer (Fulcio certificate, SCT, Rekor bundle)', () => {
  const expected = readJson('legacy-sig-keyless', 'expected.json') as {
    imageDigest: string;
    certificateIdentity: string;
    certificateOidcIssuer: string;
  };
  const descriptor = readJson('legacy-sig-keyless', 'layer-descriptor.json') as {
    mediaType: string;
    digest: string;
    annotations: Record<string, string>;
  };
  const payload = read('legacy-sig-keyless', 'payload.json');
  const layer: SignatureLayer = { ...descriptor, payload };
  const keyless = (subject = expected.certificateIdentity, issuer = expected.certificateOidcIssuer) =>
    resolveCheck(
      attestorFrom([
        '- keyless:',
        `    subject: ${subject}`,
        `    issuer: ${issuer}`,
        '    rekor:',
        '      url: https://rekor.sigstore.dev',
      ]),
      { trust: publicGood, type: 'Cosign' },
    );

  test('the payload is byte-exact', () => {
    expect(`sha256:${createHash('sha256').update(payload).digest('hex')}`).toBe(descriptor.digest);
  });

  test('is valid for its image digest, identity and issuer with the public-good root', () => {
    expect(verifyLegacySignatures([layer], expected.imageDigest, keyless())).toEqual({
      verified: true,
      evidence: `signature layer ${descriptor.digest}`,
    });
  });

  test('is invalid when a payload byte changes', () => {
    const tampered = Buffer.from(payload);
    tampered.writeUInt8(tampered.readUInt8(tampered.length - 3) ^ 1, tampered.length - 3);
    expect(
      verifyLegacySignatures([{ ...layer, payload: tampered }], expected.imageDigest, keyless()),
    ).toMatchObject({
      verified: false,
      reason: 'invalid signature',
    });
  });

  test('is invalid for another image digest', () => {
    const other = `sha256:${'0'.repeat(64)}`;
    expect(verifyLegacySignatures([layer], other, keyless())).toMatchObject({
      verified: false,
      reason: `signature is for digest ${expected.imageDigest}, not ${other}`,
    });
  });

  test('is invalid for another identity or issuer, saying what was expected and found', () => {
    expect(
      verifyLegacySignatures([layer], expected.imageDigest, keyless('someone@example.com')),
    ).toMatchObject({
      verified: false,
      reason: 'signer identity mismatch: expected subject "someone@example.com", found "sozercan@gmail.com"',
    });
    expect(
      verifyLegacySignatures(
        [layer],
        expected.imageDigest,
        keyless(undefined, 'https://accounts.google.com'),
      ),
    ).toMatchObject({
      verified: false,
      reason:
        'signer identity mismatch: expected issuer "https://accounts.google.com", found "https://github.com/login/oauth"',
    });
  });

  test.each(['logIndex', 'integratedTime'])('is invalid when the bundle’s %s changes (SET)', (field) => {
    const bundle = JSON.parse(descriptor.annotations['dev.sigstore.cosign/bundle'] ?? '') as {
      Payload: Record<string, number>;
    };
    bundle.Payload[field] = (bundle.Payload[field] ?? 0) + 1;
    const tampered = {
      ...layer,
      annotations: { ...layer.annotations, 'dev.sigstore.cosign/bundle': JSON.stringify(bundle) },
    };
    const verdict = verifyLegacySignatures([tampered], expected.imageDigest, keyless());
    expect(verdict).toMatchObject({ verified: false });
    expect(!verdict.verified && verdict.reason).toMatch(
      /^invalid transparency-log proof: the signed entry timestamp does not verify with the key of log c0d23d6a/,
    );
  });

  test('is invalid when the signature changes', () => {
    const signature = Buffer.from(layer.annotations['dev.cosignproject.cosign/signature'] ?? '', 'base64');
    signature.writeUInt8(signature.readUInt8(10) ^ 1, 10);
    const tampered = {
      ...layer,
      annotations: {
        ...layer.annotations,
        'dev.cosignproject.cosign/signature': signature.toString('base64'),
      },
    };
    expect(verifyLegacySignatures([tampered], expected.imageDigest, keyless())).toMatchObject({
      verified: false,
      reason: 'invalid signature',
    });
  });

  test('the certificate lived 10 minutes: without the log proof it is not valid now', () => {
    const ignoreTlog = resolveCheck(
      attestorFrom([
        '- keyless:',
        `    subject: ${expected.certificateIdentity}`,
        `    issuer: ${expected.certificateOidcIssuer}`,
        '    rekor:',
        '      url: https://rekor.sigstore.dev',
        '      ignoreTlog: true',
      ]),
      { trust: publicGood, type: 'Cosign', now: new Date('2026-01-01T00:00:00Z') },
    );
    const withoutBundle = { ...layer.annotations };
    delete withoutBundle['dev.sigstore.cosign/bundle'];
    const verdict = verifyLegacySignatures(
      [{ ...layer, annotations: withoutBundle }],
      expected.imageDigest,
      ignoreTlog,
    );
    expect(!verdict.verified && verdict.reason).toBe(
      'certificate expired at signing time: valid 2023-02-16T05:23:04.000Z to 2023-02-16T05:33:04.000Z, signed at 2026-01-01T00:00:00.000Z (current time; no Rekor entry or RFC 3161 timestamp dates the signature)',
    );
    // With the Rekor bundle it still dates the signature, although not required.
    expect(verifyLegacySignatures([layer], expected.imageDigest, ignoreTlog)).toMatchObject({
      verified: true,
    });
  });
});

describe('legacy-rekor-set: the SET example of cosign’s SIGNATURE_SPEC', () => {
  const bundle = parseRekorBundle(
    read('legacy-rekor-set', 'spec-example-bundle.json').toString('utf8'),
  ) as RekorBundle;

  test('verifies with the public-good Rekor key selected by logID', () => {
    const result = verifyRekorBundle(bundle, publicGood.tlogs);
    expect(result).toMatchObject({ ok: true, integratedTime: new Date(1624396085 * 1000) });
    expect(result.ok && result.entry).toMatchObject({ kind: 'rekord', apiVersion: '0.0.1' });
  });

  test.each<[string, Partial<RekorBundle>]>([
    ['body', { body: bundle.body.replace(/.$/, (last) => (last === 'A' ? 'B' : 'A')) }],
    ['integratedTime', { integratedTime: bundle.integratedTime + 1 }],
    ['logIndex', { logIndex: bundle.logIndex + 1 }],
    ['logID', { logID: bundle.logID.replace(/^c0/, 'c1') }],
  ])('is invalid when %s changes', (_field, change) => {
    expect(verifyRekorBundle({ ...bundle, ...change }, publicGood.tlogs)).toMatchObject({ ok: false });
  });
});

describe('legacy-att-dsse-key: cosign DSSE attestations signed with a key', () => {
  const [key] = parsePublicKeys(read('legacy-att-dsse-key', 'cosign.pub.pem').toString('utf8'));
  const subject = `sha256:${createHash('sha256').update(read('legacy-att-dsse-key', 'artifact.txt')).digest('hex')}`;

  test('the subject artifact is byte-exact', () => {
    expect(subject).toBe('sha256:658781cd4ed9bca60dacd09f7bb914bb51502e8b5d619f57f39a1d652596cc24');
  });

  test.each([
    ['envelope-slsa02.json', true],
    ['envelope-multiple-subjects.json', true],
    ['envelope-empty-subject.json', false],
    ['envelope-missing-sha256.json', false],
    ['envelope-multiple-subjects-invalid.json', false],
  ])('%s: signature valid, claim valid = %s', (file, claimValid) => {
    const envelope = parseDsseEnvelope(read('legacy-att-dsse-key', file));
    if (!envelope || !key) throw new Error('unreadable vector');
    const [signature] = envelope.signatures;
    expect(envelope.payloadType).toBe('application/vnd.in-toto+json');
    expect(verifyDsseSignature(envelope.payloadType, envelope.payload, signature!.sig, key.key)).toBe(true);

    const matched = matchStatementSubject(envelope.payload, subject);
    expect(typeof matched !== 'string').toBe(claimValid);
    if (typeof matched !== 'string') expect(matched.predicateType).toBe('https://slsa.dev/provenance/v0.2');
  });

  test('a signature checked with another key or over another payload is invalid', () => {
    const envelope = parseDsseEnvelope(read('legacy-att-dsse-key', 'envelope-slsa02.json'))!;
    const other = parsePublicKeys(read('legacy-sig-key', 'ecdsa-p256.pub.pem').toString('utf8'))[0]!;
    const signature = envelope.signatures[0]!.sig;
    expect(verifyDsseSignature(envelope.payloadType, envelope.payload, signature, other.key)).toBe(false);
    expect(
      verifyDsseSignature(
        envelope.payloadType,
        Buffer.concat([envelope.payload, Buffer.from(' ')]),
        signature,
        key!.key,
      ),
    ).toBe(false);
  });
});

describe('bundle-cosign-oci-attestation: a v0.3 DSSE bundle as cosign stores it as an OCI referrer', () => {
  const bundle = readJson('bundle-cosign-oci-attestation', 'bundle.sigstore.json');
  const digest = 'sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4';
  const check = (subject = 'cody@soyland.com') =>
    resolveCheck(
      attestorFrom([
        '- keyless:',
        `    subject: ${subject}`,
        '    issuer: https://github.com/login/oauth',
        '    rekor:',
        '      url: https://rekor.sigstore.dev',
      ]),
      { trust: publicGood, type: 'SigstoreBundle' },
    );

  test('is valid for its subject digest and identity', () => {
    expect(verifySigstoreBundle(bundle, { kind: 'image', digest }, check())).toBeUndefined();
  });

  test('is invalid for another subject digest', () => {
    const other = `sha256:${'1'.repeat(64)}`;
    expect(verifySigstoreBundle(bundle, { kind: 'image', digest: other }, check())).toMatchObject({
      reason: `signature is for digest ${digest}, not ${other}`,
    });
  });

  test('is invalid for another identity', () => {
    expect(
      verifySigstoreBundle(bundle, { kind: 'image', digest }, check('someone@example.com')),
    ).toMatchObject({
      reason: 'signer identity mismatch: expected subject "someone@example.com", found "cody@soyland.com"',
    });
  });
});

/** Why each `_fail` case fails (the trust-root case fails at load, before any bundle). */
const FAIL_REASONS: Record<string, RegExp> = {
  'set-invalid-signature_fail': /^invalid transparency-log proof: inclusion promise could not be verified$/,
};

describe('sigstore-conformance: bundle-verify cases (a directory ending in _fail must fail)', () => {
  const root = join(VECTORS, 'sigstore-conformance');
  const artifact = readFileSync(join(root, 'a.txt'));
  const cases = readdirSync(root, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();

  test('all seven cases are here', () => {
    expect(cases).toHaveLength(7);
  });

  test.each(cases)('%s', (name) => {
    const dir = join(root, name);
    const file = (child: string) => join(dir, child);
    const text = (child: string) => readFileSync(file(child), 'utf8').trim();
    let trust: TrustRoots;
    try {
      trust = existsSync(file('trusted_root.json'))
        ? loadTrustRoots([{ name, json: JSON.parse(text('trusted_root.json')) }])
        : publicGood;
    } catch (error) {
      // A trust root imagegate refuses to load cannot verify anything.
      expect(name).toMatch(/_fail$/);
      expect((error as Error).message).toMatch(/validFor\.start is missing/);
      return;
    }
    const attestor = existsSync(file('key.pub'))
      ? [
          '- keys:',
          '    publicKeys: |-',
          block(text('key.pub'), 6),
          '    rekor:',
          '      url: https://rekor.sigstore.dev',
        ]
      : [
          '- keyless:',
          `    subject: ${existsSync(file('identity')) ? text('identity') : 'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main'}`,
          `    issuer: ${existsSync(file('issuer')) ? text('issuer') : 'https://token.actions.githubusercontent.com'}`,
        ];
    const check = resolveCheck(attestorFrom(attestor, { trust }), { trust, type: 'SigstoreBundle' });
    const subject: BundleSubject = {
      kind: 'artifact',
      bytes: existsSync(file('artifact')) ? readFileSync(file('artifact')) : artifact,
    };
    const failure = verifySigstoreBundle(JSON.parse(text('bundle.sigstore.json')), subject, check);
    if (name.endsWith('_fail')) {
      expect(failure?.reason).toMatch(FAIL_REASONS[name] ?? /./);
    } else {
      expect(failure).toBeUndefined();
    }
  });
});

describe('beyond sigstore-js: the log key must be valid when a Rekor v2 entry was made', () => {
  test('rekor2-happy-path fails when its log key starts after the signing time', () => {
    const dir = join(VECTORS, 'sigstore-conformance', 'rekor2-happy-path');
    const root = JSON.parse(readFileSync(join(dir, 'trusted_root.json'), 'utf8')) as {
      tlogs: { publicKey: { validFor: { start: string } } }[];
    };
    for (const log of root.tlogs) log.publicKey.validFor.start = '2030-01-01T00:00:00Z';
    const trust = loadTrustRoots([{ name: 'late.json', json: root }]);
    const check = resolveCheck(
      attestorFrom(
        [
          '- keyless:',
          '    subject: https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main',
          '    issuer: https://token.actions.githubusercontent.com',
        ],
        { trust },
      ),
      { trust, type: 'SigstoreBundle' },
    );
    const bundle = JSON.parse(readFileSync(join(dir, 'bundle.sigstore.json'), 'utf8')) as unknown;
    const artifact = readFileSync(join(VECTORS, 'sigstore-conformance', 'a.txt'));
    expect(verifySigstoreBundle(bundle, { kind: 'artifact', bytes: artifact }, check)).toMatchObject({
      reason: expect.stringMatching(
        /^invalid transparency-log proof: the key of log [0-9a-f]+ was not valid when the entry was made$/,
      ) as string,
    });
  });
});
