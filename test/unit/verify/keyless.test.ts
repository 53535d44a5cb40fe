/**
 * Keyless and certificate attestors on legacy `.sig` layers, against a private test Sigstore
 * (test/support/sigstore.ts): identity matching, chains, SCTs, offline Rekor bundles, RFC 3161
 * timestamps, validity at the signing time, and the messages each failure gives.
 */
import { simpleSigningPayload, generateKeyPair } from '../../support/cosign-signer';
import {
  createTestSigstore,
  legacyAnnotations,
  legacyLayer,
  OID,
  type LegacySignOptions,
  type SigningIdentity,
  type TestSigstore,
  GITHUB,
  WORKFLOW,
} from '../../support/sigstore';
import { resolveCheck } from '../../../lib/verify/spec';
import type { SignatureVerdict } from '../../../lib/model/verification';
import { verifyLegacySignatures } from '../../../lib/verify/sig-layer';
import { loadTrustRoots, PUBLIC_GOOD_TRUST_ROOT, type TrustRoots } from '../../../lib/verify/trust-roots';
import { DIGEST_A, DIGEST_B } from '../../support/builders';
import { attestorFrom, block, problemsOf } from '../../support/attestor-policies';

let sigstore: TestSigstore;
let other: TestSigstore;
let trust: TrustRoots;
let signer: SigningIdentity;

beforeAll(() => {
  sigstore = createTestSigstore('unit');
  other = createTestSigstore('other');
  trust = loadTrustRoots([PUBLIC_GOOD_TRUST_ROOT, { name: 'unit.json', json: sigstore.trustedRoot() }]);
  signer = sigstore.issue({
    uri: WORKFLOW,
    issuer: GITHUB,
    extensions: {
      [OID.githubWorkflowRepository]: 'acme/app',
      [OID.githubWorkflowTrigger]: 'push',
      [OID.sourceRepositoryURI]: 'https://github.com/acme/app',
    },
  });
});

const payload = (digest = DIGEST_A, optional?: Record<string, string>) =>
  simpleSigningPayload('registry.example/acme/app', digest, optional ?? null);

/** A `.sig` layer signed by `identity` (the default signer) with the given evidence. */
function layer(
  options: LegacySignOptions & { identity?: SigningIdentity; by?: TestSigstore; digest?: string } = {},
) {
  const bytes = payload(options.digest);
  return legacyLayer(
    bytes,
    legacyAnnotations(options.by ?? sigstore, bytes, options.identity ?? signer, options),
  );
}

const keyless = (lines: readonly string[] = [`subject: ${WORKFLOW}`, `issuer: ${GITHUB}`]) =>
  attestorFrom(['- keyless:', ...lines.flatMap((line) => line.split('\n')).map((line) => `    ${line}`)], {
    trust,
  });

function verify(
  layers: ReturnType<typeof layer>[],
  lines?: readonly string[],
  options: { now?: Date; digest?: string } = {},
): SignatureVerdict {
  return verifyLegacySignatures(
    layers,
    options.digest ?? DIGEST_A,
    resolveCheck(keyless(lines), { trust, type: 'Cosign', now: options.now }),
  );
}

const reason = (verdict: SignatureVerdict) => (verdict.verified ? 'verified' : verdict.reason);

describe('keyless identity', () => {
  test('the right subject and issuer pass', () => {
    expect(verify([layer()])).toMatchObject({ verified: true });
  });

  test('another subject fails, showing what was expected and what the certificate holds', () => {
    expect(reason(verify([layer()], ['subject: https://github.com/acme/other/*', `issuer: ${GITHUB}`]))).toBe(
      `signer identity mismatch: expected subject "https://github.com/acme/other/*", found "${WORKFLOW}"`,
    );
  });

  test('another issuer fails', () => {
    expect(reason(verify([layer()], [`subject: ${WORKFLOW}`, 'issuer: https://accounts.google.com']))).toBe(
      `signer identity mismatch: expected issuer "https://accounts.google.com", found "${GITHUB}"`,
    );
  });

  test('subject and issuer take Kyverno wildcards', () => {
    expect(
      verify([layer()], ['subject: https://github.com/acme/*', 'issuer: https://token.actions.*']),
    ).toMatchObject({
      verified: true,
    });
  });

  test('regular expressions must match the whole value (anchored, unlike cosign)', () => {
    const lines = (pattern: string) => [`subjectRegExp: '${pattern}'`, `issuer: ${GITHUB}`];
    expect(verify([layer()], lines('https://github\\.com/acme/.*'))).toMatchObject({ verified: true });
    // cosign's unanchored MatchString would accept this prefix-only pattern.
    expect(reason(verify([layer()], lines('https://github\\.com/acme/')))).toBe(
      `signer identity mismatch: expected subject /^(?:https://github\\.com/acme/)$/, found "${WORKFLOW}"`,
    );
    expect(reason(verify([layer()], [`subject: ${WORKFLOW}`, "issuerRegExp: 'token\\.actions'"]))).toBe(
      `signer identity mismatch: expected issuer /^(?:token\\.actions)$/, found "${GITHUB}"`,
    );
  });

  test('subject or subjectRegExp may match; issuer and issuerRegExp must both match', () => {
    expect(
      verify(
        [layer()],
        ['subject: nobody@example.com', "subjectRegExp: 'https://github.com/acme/.*'", `issuer: ${GITHUB}`],
      ),
    ).toMatchObject({ verified: true });
    expect(
      reason(
        verify(
          [layer()],
          [`subject: ${WORKFLOW}`, `issuer: ${GITHUB}`, "issuerRegExp: 'https://accounts\\..*'"],
        ),
      ),
    ).toMatch(/^signer identity mismatch: expected issuer \/\^\(\?:https:\/\/accounts/);
  });

  test('additionalExtensions match Fulcio extensions by name or OID, with wildcards', () => {
    const lines = (extensions: string[]) => [
      `subject: ${WORKFLOW}`,
      `issuer: ${GITHUB}`,
      'additionalExtensions:',
      ...extensions.map((line) => `  ${line}`),
    ];
    expect(
      verify(
        [layer()],
        lines([
          'githubWorkflowRepository: acme/app',
          'githubWorkflowTrigger: pu*',
          'sourceRepositoryURI: https://github.com/acme/app',
        ]),
      ),
    ).toMatchObject({ verified: true });
    expect(verify([layer()], lines(["'1.3.6.1.4.1.57264.1.5': acme/*"]))).toMatchObject({ verified: true });
    expect(reason(verify([layer()], lines(['githubWorkflowRepository: acme/other'])))).toBe(
      'signer identity mismatch: expected githubWorkflowRepository "acme/other", found "acme/app"',
    );
    expect(reason(verify([layer()], lines(['githubWorkflowRef: refs/heads/main'])))).toBe(
      'signer identity mismatch: expected githubWorkflowRef "refs/heads/main", found no githubWorkflowRef extension',
    );
  });

  test('email subjects are matched too', () => {
    const person = sigstore.issue({ email: 'dev@acme.example', issuer: 'https://accounts.google.com' });
    expect(
      verify(
        [layer({ identity: person })],
        ['subject: "*@acme.example"', 'issuer: https://accounts.google.com'],
      ),
    ).toMatchObject({
      verified: true,
    });
  });

  test('one matching layer among others is enough; otherwise the furthest failure is reported', () => {
    const stranger = sigstore.issue({ uri: 'https://github.com/evil/x', issuer: GITHUB });
    expect(verify([layer({ identity: stranger }), layer()])).toMatchObject({ verified: true });
    expect(
      reason(
        verify([
          layer({ by: other, identity: other.issue({ uri: WORKFLOW, issuer: GITHUB }) }),
          layer({ identity: stranger }),
        ]),
      ),
    ).toMatch(/^signer identity mismatch/);
  });
});

describe('certificate chain', () => {
  test('a certificate from an untrusted CA fails', () => {
    const foreign = other.issue({ uri: WORKFLOW, issuer: GITHUB });
    expect(reason(verify([layer({ by: other, identity: foreign })]))).toMatch(
      /^untrusted certificate chain: the signing certificate \(issued by "O=imagegate test, CN=other fulcio intermediate"\) does not chain to any of \d+ trusted CAs$/,
    );
  });

  test('a certificate without the code-signing usage fails', () => {
    const server = sigstore.issue({ uri: WORKFLOW, issuer: GITHUB, usage: '1.3.6.1.5.5.7.3.1' });
    expect(reason(verify([layer({ identity: server })]))).toBe(
      'untrusted certificate chain: the signing certificate is not for code signing (extended key usage)',
    );
  });

  test('roots: trusts exactly the given CA instead of the trust roots', () => {
    const foreign = other.issue({ uri: WORKFLOW, issuer: GITHUB });
    const lines = [
      `subject: ${WORKFLOW}`,
      `issuer: ${GITHUB}`,
      'roots: |-',
      block(other.fulcio.root.pem, 2),
      'rekor:',
      '  url: https://rekor.sigstore.dev',
      '  pubkey: |-',
      block(other.rekor.publicKeyPem, 4),
      'ctlog:',
      '  pubkey: |-',
      block(other.ctlog.publicKeyPem, 4),
    ];
    expect(verify([layer({ by: other, identity: foreign })], lines)).toMatchObject({ verified: true });
    expect(reason(verify([layer()], lines))).toMatch(
      /^untrusted certificate chain: .* does not chain to the policy's roots$/,
    );
  });

  test('a layer without a certificate fails for a keyless attestor', () => {
    const key = generateKeyPair('ecdsa-p256');
    expect(
      reason(verify([layer({ key: { privateKey: key.privateKey, publicKeyPem: key.publicKeyPem } })])),
    ).toBe('the signature has no certificate (it was made with a key, not keylessly)');
  });
});

describe('transparency log (offline Rekor bundle)', () => {
  test('a signature without a Rekor bundle fails when the log is required, saying so', () => {
    expect(reason(verify([layer({ rekor: 'none' })]))).toBe(
      'missing transparency-log proof: the signature has no Rekor bundle, and imagegate checks the log offline only (rekor.ignoreTlog: true accepts signatures without one)',
    );
  });

  test('a tampered SET fails', () => {
    expect(reason(verify([layer({ rekor: 'tampered' })]))).toMatch(
      /^invalid transparency-log proof: the signed entry timestamp does not verify with the key of log [0-9a-f]{64} \(https:\/\/rekor\.unit\.example\)$/,
    );
  });

  test('an entry from a log no trust root has fails', () => {
    expect(reason(verify([layer({ rekor: 'foreign' })]))).toMatch(
      /^invalid transparency-log proof: the Rekor entry is from log [0-9a-f]{64}, which is not a trusted transparency log$/,
    );
  });

  test('an entry for another signature or another payload fails', () => {
    const bytes = payload();
    const annotations = legacyAnnotations(sigstore, bytes, signer);
    const otherAnnotations = legacyAnnotations(sigstore, payload(DIGEST_A, { build: '2' }), signer);
    const swapped = {
      ...annotations,
      'dev.sigstore.cosign/bundle': otherAnnotations['dev.sigstore.cosign/bundle'] ?? '',
    };
    expect(reason(verify([legacyLayer(bytes, swapped)]))).toBe(
      'invalid transparency-log proof: the Rekor entry records another signature',
    );
  });

  test('rekor.pubkey replaces the trust roots’ Rekor keys', () => {
    const lines = (pem: string) => [
      `subject: ${WORKFLOW}`,
      `issuer: ${GITHUB}`,
      'rekor:',
      '  url: https://rekor.unit.example',
      '  pubkey: |-',
      block(pem, 4),
    ];
    expect(verify([layer()], lines(sigstore.rekor.publicKeyPem))).toMatchObject({ verified: true });
    expect(reason(verify([layer()], lines(other.rekor.publicKeyPem)))).toMatch(
      /not a trusted transparency log$/,
    );
  });

  test('ignoreTlog: no log needed; the certificate must then be valid now', () => {
    const lines = [`subject: ${WORKFLOW}`, `issuer: ${GITHUB}`, 'rekor:', '  ignoreTlog: true'];
    const now = new Date();
    expect(verify([layer({ rekor: 'none' })], lines, { now })).toMatchObject({ verified: true });
    expect(reason(verify([layer({ rekor: 'none' })], lines))).toBe(
      'no signing time: the signature has no verified Rekor entry or RFC 3161 timestamp to check the certificate against',
    );
    const later = new Date(now.getTime() + 3600_000);
    expect(reason(verify([layer({ rekor: 'none' })], lines, { now: later }))).toMatch(
      /^certificate expired at signing time: valid .* signed at .* \(current time; no Rekor entry or RFC 3161 timestamp dates the signature\)$/,
    );
    // A Rekor bundle that verifies still dates the signature; a broken one is not used.
    expect(verify([layer()], lines, { now: later })).toMatchObject({ verified: true });
    expect(verify([layer({ rekor: 'tampered' })], lines, { now })).toMatchObject({ verified: true });
  });
});

describe('certificate validity at signing time', () => {
  test('a certificate that had expired when the entry was logged fails', () => {
    const start = new Date(Date.now() - 2 * 3600_000);
    const expired = sigstore.issue({
      uri: WORKFLOW,
      issuer: GITHUB,
      notBefore: start,
      notAfter: new Date(start.getTime() + 600_000),
    });
    expect(reason(verify([layer({ identity: expired })]))).toMatch(
      /^certificate expired at signing time: valid \S+ to \S+, signed at \S+ \(Rekor integrated time, https:\/\/rekor\.unit\.example\)$/,
    );
  });

  test('a certificate valid when logged passes later', () => {
    const start = new Date(Date.now() - 2 * 3600_000);
    const old = sigstore.issue({
      uri: WORKFLOW,
      issuer: GITHUB,
      notBefore: start,
      notAfter: new Date(start.getTime() + 600_000),
    });
    const integratedTime = Math.floor(start.getTime() / 1000) + 60;
    expect(verify([layer({ identity: old, integratedTime })], undefined, { now: new Date() })).toMatchObject({
      verified: true,
    });
  });
});

describe('certificate transparency (embedded SCT)', () => {
  test('a certificate without an SCT fails unless ignoreSCT', () => {
    const bare = sigstore.issue({ uri: WORKFLOW, issuer: GITHUB, sct: false });
    expect(reason(verify([layer({ identity: bare })]))).toBe(
      'missing certificate transparency proof: the certificate has no embedded SCT',
    );
    expect(
      verify(
        [layer({ identity: bare })],
        [`subject: ${WORKFLOW}`, `issuer: ${GITHUB}`, 'ctlog:', '  ignoreSCT: true'],
      ),
    ).toMatchObject({
      verified: true,
    });
  });

  test('ctlog.pubkey replaces the trust roots’ CT logs', () => {
    const lines = (pem: string) => [
      `subject: ${WORKFLOW}`,
      `issuer: ${GITHUB}`,
      'ctlog:',
      '  pubkey: |-',
      block(pem, 4),
    ];
    expect(verify([layer()], lines(sigstore.ctlog.publicKeyPem))).toMatchObject({ verified: true });
    expect(reason(verify([layer()], lines(other.ctlog.publicKeyPem)))).toMatch(
      /^invalid SCT: no embedded SCT is from a trusted CT log/,
    );
  });
});

describe('RFC 3161 timestamps', () => {
  test('a timestamp from a trusted TSA dates the signature when the log is ignored', () => {
    const lines = [`subject: ${WORKFLOW}`, `issuer: ${GITHUB}`, 'rekor:', '  ignoreTlog: true'];
    expect(verify([layer({ rekor: 'none', timestamp: true })], lines)).toMatchObject({ verified: true });
  });

  test('ctlog.tsaCertChain requires a timestamp by that authority', () => {
    const lines = (chain: string) => [
      `subject: ${WORKFLOW}`,
      `issuer: ${GITHUB}`,
      'ctlog:',
      '  tsaCertChain: |-',
      block(chain, 4),
    ];
    const chain = sigstore.tsa.leafPem + sigstore.tsa.ca.chainPem;
    expect(verify([layer({ timestamp: true })], lines(chain))).toMatchObject({ verified: true });
    // The CAs alone: the signing certificate embedded in the token is used (Kyverno allows this).
    expect(verify([layer({ timestamp: true })], lines(sigstore.tsa.ca.chainPem))).toMatchObject({
      verified: true,
    });
    expect(reason(verify([layer()], lines(chain)))).toBe(
      "missing RFC 3161 timestamp: the policy's ctlog.tsaCertChain requires one",
    );
    expect(
      reason(verify([layer({ timestamp: true })], lines(other.tsa.leafPem + other.tsa.ca.chainPem))),
    ).toMatch(/^invalid RFC 3161 timestamp: no trusted timestamp authority signed it/);
  });
});

describe('claims', () => {
  test('the payload must name the image digest, with the required annotations', () => {
    expect(reason(verify([layer({ digest: DIGEST_B })]))).toBe(
      `signature is for digest ${DIGEST_B}, not ${DIGEST_A}`,
    );
    const bytes = payload(DIGEST_A, { env: 'prod' });
    const annotated = legacyLayer(bytes, legacyAnnotations(sigstore, bytes, signer));
    const check = resolveCheck(
      attestorFrom(
        [
          '- keyless:',
          `    subject: ${WORKFLOW}`,
          `    issuer: ${GITHUB}`,
          '  annotations:',
          '    env: prod',
        ],
        { trust },
      ),
      { trust, type: 'Cosign' },
    );
    expect(verifyLegacySignatures([annotated], DIGEST_A, check)).toMatchObject({ verified: true });
    expect(verifyLegacySignatures([layer()], DIGEST_A, check)).toMatchObject({
      reason: 'annotation env is missing, expected "prod"',
    });
  });
});

describe('certificates attestors', () => {
  test('cert: the signature must verify with that certificate (its chain is not needed)', () => {
    const pinned = sigstore.issue({
      uri: WORKFLOW,
      issuer: GITHUB,
      notAfter: new Date(Date.now() + 3600_000),
    });
    const check = (pem: string) =>
      resolveCheck(attestorFrom(['- certificates:', '    cert: |-', block(pem, 6)], { trust }), {
        trust,
        type: 'Cosign',
      });
    expect(verifyLegacySignatures([layer({ identity: pinned })], DIGEST_A, check(pinned.pem))).toMatchObject({
      verified: true,
    });
    expect(verifyLegacySignatures([layer()], DIGEST_A, check(pinned.pem))).toMatchObject({
      reason: 'invalid signature',
    });
  });

  test('cert + certChain: the certificate must chain to the chain’s root; SCT as configured', () => {
    const check = (chain: string, extra: string[] = []) =>
      resolveCheck(
        attestorFrom(
          [
            '- certificates:',
            '    cert: |-',
            block(signer.pem, 6),
            '    certChain: |-',
            block(chain, 6),
            ...extra,
          ],
          { trust },
        ),
        { trust, type: 'Cosign' },
      );
    expect(verifyLegacySignatures([layer()], DIGEST_A, check(sigstore.fulcio.chainPem))).toMatchObject({
      verified: true,
    });
    expect(verifyLegacySignatures([layer()], DIGEST_A, check(other.fulcio.chainPem))).toMatchObject({
      reason: expect.stringMatching(
        /^untrusted certificate chain: .* does not chain to the policy's certChain$/,
      ) as string,
    });
  });

  test('certChain alone: the signature’s own certificate must chain to it', () => {
    const check = resolveCheck(
      attestorFrom(['- certificates:', '    certChain: |-', block(sigstore.fulcio.root.pem, 6)], { trust }),
      { trust, type: 'Cosign' },
    );
    expect(verifyLegacySignatures([layer()], DIGEST_A, check)).toMatchObject({ verified: true });
    const foreign = other.issue({ uri: WORKFLOW, issuer: GITHUB });
    expect(
      verifyLegacySignatures([layer({ by: other, identity: foreign, rekor: 'none' })], DIGEST_A, check),
    ).toMatchObject({
      reason: expect.stringMatching(/^untrusted certificate chain/) as string,
    });
  });
});

describe('key attestors with rekor', () => {
  const key = generateKeyPair('ecdsa-p256');
  const keyLayer = (options: LegacySignOptions = {}) =>
    layer({ key: { privateKey: key.privateKey, publicKeyPem: key.publicKeyPem }, ...options });
  const check = (rekor: string[]) =>
    resolveCheck(
      attestorFrom(
        ['- keys:', '    publicKeys: |-', block(key.publicKeyPem, 6), ...rekor.map((line) => `    ${line}`)],
        { trust },
      ),
      { trust, type: 'Cosign' },
    );

  test('without rekor no log is needed (ADR 1)', () => {
    expect(verifyLegacySignatures([keyLayer({ rekor: 'none' })], DIGEST_A, check([]))).toMatchObject({
      verified: true,
    });
  });

  test('with rekor (ignoreTlog: false) the layer’s Rekor bundle is verified offline', () => {
    const rekor = ['rekor:', '  url: https://rekor.unit.example'];
    expect(verifyLegacySignatures([keyLayer()], DIGEST_A, check(rekor))).toMatchObject({ verified: true });
    expect(verifyLegacySignatures([keyLayer({ rekor: 'none' })], DIGEST_A, check(rekor))).toMatchObject({
      reason: expect.stringMatching(/^missing transparency-log proof/) as string,
    });
    expect(verifyLegacySignatures([keyLayer({ rekor: 'tampered' })], DIGEST_A, check(rekor))).toMatchObject({
      reason: expect.stringMatching(/^invalid transparency-log proof/) as string,
    });
  });
});

describe('policy loading', () => {
  test('a rekor.url no trust root knows is a load error unless pubkey is given', () => {
    const entry = (extra: string[]) => [
      'attestors:',
      '  - entries:',
      '      - keyless:',
      `          subject: ${WORKFLOW}`,
      `          issuer: ${GITHUB}`,
      '          rekor:',
      '            url: https://rekor.private.example',
      ...extra,
    ];
    expect(problemsOf(entry([]), { trust })).toEqual([
      expect.stringMatching(
        /^spec\.rules\[0\]\.verifyImages\[0\]\.attestors\[0\]\.entries\[0\]\.keyless\.rekor\.url: names transparency log https:\/\/rekor\.private\.example, which no trust root has \(known: https:\/\/rekor\.sigstore\.dev, https:\/\/log2025-1\.rekor\.sigstore\.dev, https:\/\/rekor\.unit\.example\); add its trusted_root\.json to IMAGEGATE_TRUST_ROOTS or give its key in rekor\.pubkey$/,
      ),
    ]);
    expect(
      problemsOf(entry(['            pubkey: |-', block(sigstore.rekor.publicKeyPem, 14)]), { trust }),
    ).toEqual([]);
    expect(problemsOf(entry(['            ignoreTlog: true']), { trust })).toEqual([]);
  });
});
