/**
 * Attestations (`verifyImages[].attestations`): cosign's legacy `.att` DSSE layers and in-toto
 * statements in Sigstore bundles, the predicate type filter, the subject digest, attestor counts
 * and Kyverno conditions over the predicate and `image`. No network.
 */
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { json as canonicalJson } from '@sigstore/core';
import type { SignatureLayer } from '../../../lib/model/evidence';
import type { SigstoreBundleArtifact } from '../../../lib/model/evidence';
import { evaluateSafely } from '../../../lib/policy/conditions';
import { imageInfoVariable } from '../../../lib/policy/variables';
import type { ImageVerification } from '../../../lib/policy/types';
import { evaluateAttestations } from '../../../lib/verify/attestations';
import { attestationEntryMismatch } from '../../../lib/verify/rekor-entries';
import type { AttestorEvidence } from '../../../lib/verify/spec';
import { keyFingerprint } from '../../../lib/verify/certificates';
import { loadTrustRoots, type TrustRoots } from '../../../lib/verify/trust-roots';
import {
  DSSE_ENVELOPE_MEDIA_TYPE,
  dsseEnvelope,
  dssePae,
  generateKeyPair,
  inTotoStatement,
} from '../../support/cosign-signer';
import { block, entryFrom } from '../../support/attestor-policies';

const VECTORS = join(__dirname, '../../fixtures/vendor/conformance');
const read = (...path: string[]) => readFileSync(join(VECTORS, ...path));

const SLSA = 'https://slsa.dev/provenance/v0.2';
const CUSTOM = 'https://cosign.sigstore.dev/attestation/v1';
const DIGEST = `sha256:${'a'.repeat(64)}`;
const OTHER = `sha256:${'b'.repeat(64)}`;
const keyA = generateKeyPair('ecdsa-p256');
const keyB = generateKeyPair('ed25519');
const publicGood = loadTrustRoots([
  {
    name: 'public-good',
    json: JSON.parse(read('trusted_root.public-good.json').toString('utf8')) as unknown,
  },
]);

const GITHUB_PREDICATE = {
  builder: { id: 'https://github.com/slsa-framework/slsa-github-generator@refs/tags/v1.9.0' },
  buildType: 'https://github.com/slsa-framework/slsa-github-generator/container@v1',
};

function attLayer(
  predicate: unknown,
  options: { key?: typeof keyA; type?: string; subject?: string; annotations?: Record<string, string> } = {},
): SignatureLayer {
  const statement = inTotoStatement(
    'registry.example/app',
    options.subject ?? DIGEST,
    options.type ?? SLSA,
    predicate,
  );
  const payload = dsseEnvelope(statement, (options.key ?? keyA).privateKey);
  return {
    mediaType: DSSE_ENVELOPE_MEDIA_TYPE,
    digest: `sha256:${createHash('sha256').update(payload).digest('hex')}`,
    annotations: {
      predicateType: options.type ?? SLSA,
      'dev.cosignproject.cosign/signature': '',
      ...options.annotations,
    },
    payload,
  };
}

/** A verifyImages entry with one attestation whose attestor entries use the given keys. */
function entry(
  options: {
    keys?: (typeof keyA)[];
    count?: number;
    conditions?: string[];
    type?: string;
    name?: string;
  } = {},
): ImageVerification {
  const keys = options.keys ?? [keyA];
  return entryFrom([
    'attestations:',
    `  - type: ${options.type ?? SLSA}`,
    ...(options.name ? [`    name: ${options.name}`] : []),
    '    attestors:',
    `      - ${options.count ? `count: ${options.count}\n        ` : ''}entries:`,
    ...keys.flatMap((key) => [
      '          - keys:',
      '              publicKeys: |-',
      block(key.publicKeyPem, 16),
    ]),
    ...(options.conditions ? ['    conditions:', ...options.conditions.map((line) => `      ${line}`)] : []),
  ]);
}

function evaluate(
  verification: ImageVerification,
  layers: SignatureLayer[],
  options: {
    bundles?: SigstoreBundleArtifact[];
    digest?: string;
    trust?: TrustRoots;
    sigstore?: boolean;
  } = {},
) {
  const evidence: AttestorEvidence = {
    legacy: { ok: true, layers },
    bundles: { ok: true, bundles: options.bundles ?? [] },
  };
  const digest = options.digest ?? DIGEST;
  return evaluateAttestations(verification.attestations, digest, () => evidence, {
    trust: options.trust ?? publicGood,
    type: options.sigstore ? 'SigstoreBundle' : 'Cosign',
    variables: {
      image: imageInfoVariable(
        { registry: 'ghcr.io', repository: 'acme/app', tag: 'v1.2.3', digest: undefined },
        digest,
      ),
    },
    evaluateCondition: evaluateSafely,
  });
}

describe('DSSE envelopes as cosign writes them (cross-checked with the legacy-att-dsse-key vectors)', () => {
  const vector = read('legacy-att-dsse-key', 'envelope-slsa02.json');
  const parsed = JSON.parse(vector.toString('utf8')) as {
    payload: string;
    signatures: { sig: string }[];
  };
  const statement = Buffer.from(parsed.payload, 'base64');

  test('the test signer writes the envelope byte for byte as cosign', () => {
    expect(dsseEnvelope(statement, undefined, { signature: parsed.signatures[0]!.sig })).toEqual(vector);
  });

  test('the test signer writes the legacy in-toto statement byte for byte as cosign', () => {
    const digest = `sha256:${createHash('sha256').update(read('legacy-att-dsse-key', 'artifact.txt')).digest('hex')}`;
    const predicate = { builder: { id: '2' }, buildType: 'x', invocation: { configSource: {} } };
    expect(inTotoStatement('blob', digest, SLSA, predicate)).toEqual(statement);
  });

  test('PAE is DSSEv1 SP len(type) SP type SP len(payload) SP payload', () => {
    expect(dssePae('t', Buffer.from('hello')).toString()).toBe('DSSEv1 1 t 5 hello');
  });

  test('the vector envelope, as a .att layer, verifies with its key for its subject', () => {
    const pem = read('legacy-att-dsse-key', 'cosign.pub.pem').toString('utf8');
    const verification = entryFrom([
      'attestations:',
      `  - type: ${SLSA}`,
      '    attestors:',
      '      - entries:',
      '          - keys:',
      '              publicKeys: |-',
      block(pem, 16),
      '    conditions:',
      '      - all:',
      "          - key: '{{ builder.id }}'",
      '            operator: Equals',
      "            value: '2'",
    ]);
    const layer: SignatureLayer = {
      mediaType: DSSE_ENVELOPE_MEDIA_TYPE,
      digest: `sha256:${createHash('sha256').update(vector).digest('hex')}`,
      annotations: { predicateType: SLSA },
      payload: vector,
    };
    const subject = `sha256:${createHash('sha256').update(read('legacy-att-dsse-key', 'artifact.txt')).digest('hex')}`;
    expect(evaluate(verification, [layer], { digest: subject })).toEqual({ status: 'pass' });
    expect(evaluate(verification, [layer])).toMatchObject({
      status: 'fail',
      reason: expect.stringContaining(`signature is for digest ${subject}, not ${DIGEST}`),
    });
  });
});

describe('legacy .att attestations with keys', () => {
  test('a statement of the type, signed by the key, for this digest passes', () => {
    expect(evaluate(entry(), [attLayer(GITHUB_PREDICATE)])).toEqual({ status: 'pass' });
  });

  test('another key: invalid signature, with the counts', () => {
    expect(evaluate(entry(), [attLayer(GITHUB_PREDICATE, { key: keyB })])).toEqual({
      status: 'fail',
      failure: 'INVALID_SIGNATURE',
      reason: `attestation of type ${SLSA}: verifiedCount: 0, requiredCount: 1: invalid signature`,
    });
  });

  test('a statement whose subject is another digest fails', () => {
    expect(evaluate(entry(), [attLayer(GITHUB_PREDICATE, { subject: OTHER })])).toEqual({
      status: 'fail',
      failure: 'DIGEST_MISMATCH',
      reason: `attestation of type ${SLSA}: verifiedCount: 0, requiredCount: 1: signature is for digest ${OTHER}, not ${DIGEST}`,
    });
  });

  test('a tampered payload under a valid signature fails', () => {
    const layer = attLayer(GITHUB_PREDICATE);
    const envelope = JSON.parse(Buffer.from(layer.payload).toString('utf8')) as { payload: string };
    const forged = inTotoStatement('registry.example/app', DIGEST, SLSA, { builder: { id: 'evil' } });
    const payload = Buffer.from(JSON.stringify({ ...envelope, payload: forged.toString('base64') }));
    expect(evaluate(entry(), [{ ...layer, payload }])).toMatchObject({
      status: 'fail',
      reason: expect.stringContaining('invalid signature'),
    });
  });

  test('only statements of the predicate type count (the layer annotation is not trusted)', () => {
    const custom = attLayer({ Data: 'x' }, { type: CUSTOM, annotations: { predicateType: SLSA } });
    expect(evaluate(entry(), [custom])).toEqual({
      status: 'fail',
      failure: 'ATTESTATION_NOT_FOUND',
      reason: `attestation of type ${SLSA}: verifiedCount: 0, requiredCount: 1: no attestation of type ${SLSA} found (.att; found ${CUSTOM})`,
    });
    expect(evaluate(entry(), [])).toMatchObject({
      reason: expect.stringContaining(
        `no attestation of type ${SLSA} found (the image has no .att attestations)`,
      ),
    });
    expect(evaluate(entry(), [custom, attLayer(GITHUB_PREDICATE)])).toEqual({ status: 'pass' });
  });

  test('count: 1 of two keys passes with one; without count both are needed', () => {
    const layers = [attLayer(GITHUB_PREDICATE)];
    expect(evaluate(entry({ keys: [keyA, keyB], count: 1 }), layers)).toEqual({ status: 'pass' });
    expect(evaluate(entry({ keys: [keyA, keyB] }), layers)).toMatchObject({
      status: 'fail',
      reason: expect.stringContaining('verifiedCount: 1, requiredCount: 2: invalid signature'),
    });
  });

  test('the attestor annotations must match the statement subject annotations', () => {
    const verification = entryFrom([
      'attestations:',
      `  - type: ${SLSA}`,
      '    attestors:',
      '      - entries:',
      '          - annotations: {env: prod}',
      '            keys:',
      '              publicKeys: |-',
      block(keyA.publicKeyPem, 16),
    ]);
    expect(evaluate(verification, [attLayer(GITHUB_PREDICATE)])).toMatchObject({
      reason: expect.stringContaining('annotation env is missing, expected "prod"'),
    });
  });
});

describe('conditions over the predicate and the image', () => {
  const builderIs = (value: string) => [
    '- all:',
    "    - key: '{{ builder.id }}'",
    '      operator: Equals',
    `      value: '${value}'`,
  ];

  test('predicate fields sit at the root of the context; wildcards in the value', () => {
    const layers = [attLayer(GITHUB_PREDICATE)];
    expect(evaluate(entry({ conditions: builderIs('https://github.com/slsa-framework/*') }), layers)).toEqual(
      {
        status: 'pass',
      },
    );
    expect(
      evaluate(entry({ conditions: builderIs('https://gitlab.com/*'), name: 'provenance' }), layers),
    ).toEqual({
      status: 'fail',
      failure: 'CONDITIONS',
      reason: `attestation "provenance" of type ${SLSA}: conditions failed: "{{ builder.id }}" Equals "https://gitlab.com/*"`,
    });
  });

  test('the whole predicate is also under `predicate` (Kyverno SigstoreBundle tests write it so)', () => {
    const layers = [attLayer(GITHUB_PREDICATE)];
    const viaPredicate = (value: string) => [
      '- all:',
      "    - key: '{{ predicate.builder.id }}'",
      '      operator: Equals',
      `      value: '${value}'`,
    ];
    expect(evaluate(entry({ conditions: viaPredicate('https://github.com/*') }), layers)).toEqual({
      status: 'pass',
    });
    expect(evaluate(entry({ conditions: viaPredicate('https://gitlab.com/*') }), layers)).toMatchObject({
      status: 'fail',
    });
  });

  test('every verified statement of the type must hold, not just one', () => {
    const layers = [attLayer(GITHUB_PREDICATE), attLayer({ builder: { id: 'https://evil.example/' } })];
    expect(evaluate(entry({ conditions: builderIs('https://github.com/*') }), layers)).toMatchObject({
      status: 'fail',
    });
  });

  test('image.* variables: reference, tag, registry, path, name, digest', () => {
    const conditions = [
      '- all:',
      "    - key: '{{ image.registry }}/{{ image.path }}:{{ image.tag }}'",
      '      operator: Equals',
      "      value: 'ghcr.io/acme/app:v1.2.3'",
      "    - key: '{{ image.name }}'",
      '      operator: Equals',
      '      value: app',
      "    - key: '{{ image.reference }}'",
      '      operator: Equals',
      "      value: 'ghcr.io/acme/app:v1.2.3'",
      "    - key: '{{ image.referenceWithTag }}'",
      '      operator: Equals',
      "      value: 'ghcr.io/acme/app:v1.2.3'",
      "    - key: '{{ image.digest }}'",
      '      operator: Equals',
      `      value: '${DIGEST}'`,
      "    - key: '{{ buildType }}'",
      '      operator: Equals',
      "      value: '*{{ image.path }}*'",
    ];
    expect(
      evaluate(entry({ conditions }), [attLayer({ ...GITHUB_PREDICATE, buildType: 'x/acme/app/y' })]),
    ).toEqual({
      status: 'pass',
    });
  });

  test('a variable the statement does not have fails the condition', () => {
    const conditions = [
      '- any:',
      "    - key: '{{ materials[0].uri }}'",
      '      operator: NotEquals',
      "      value: ''",
    ];
    expect(evaluate(entry({ conditions }), [attLayer(GITHUB_PREDICATE)])).toMatchObject({ status: 'fail' });
  });

  test('a predicate that is not an object fails conditions, with the layer named', () => {
    expect(evaluate(entry({ conditions: builderIs('*') }), [attLayer('text')])).toMatchObject({
      status: 'fail',
      reason: expect.stringMatching(
        /conditions failed: the predicate of attestation layer sha256:\w+ is not a JSON object/,
      ),
    });
  });
});

describe('attestations in Sigstore bundles (bundle-cosign-oci-attestation vector)', () => {
  const bytes = read('bundle-cosign-oci-attestation', 'bundle.sigstore.json');
  const digest = 'sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4';
  const artifact: SigstoreBundleArtifact = {
    manifestDigest: `sha256:${'c'.repeat(64)}`,
    mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
    bytes,
  };
  const keyless = (value: string) =>
    entryFrom([
      'attestations:',
      `  - type: ${CUSTOM}`,
      '    attestors:',
      '      - entries:',
      '          - keyless:',
      '              subject: cody@soyland.com',
      '              issuer: https://github.com/login/oauth',
      '    conditions:',
      '      - all:',
      "          - key: '{{ Data.foo }}'",
      '            operator: Equals',
      `            value: ${value}`,
    ]);

  test("the custom predicate's Data string is decoded as JSON; the bundle counts for type: Cosign", () => {
    expect(evaluate(keyless('bar'), [], { bundles: [artifact], digest })).toEqual({ status: 'pass' });
    expect(evaluate(keyless('baz'), [], { bundles: [artifact], digest })).toMatchObject({
      status: 'fail',
      reason: expect.stringContaining('conditions failed: "{{ Data.foo }}" Equals "baz"'),
    });
  });

  test('bundles, when the image has any, are used instead of .att layers (as cosign v3)', () => {
    expect(
      evaluate(entry(), [attLayer(GITHUB_PREDICATE)], { bundles: [artifact], digest: DIGEST }),
    ).toMatchObject({
      status: 'fail',
      reason: expect.stringContaining(
        `no attestation of type ${SLSA} found (Sigstore bundles; found ${CUSTOM})`,
      ),
    });
  });

  test('type: SigstoreBundle reads bundles only', () => {
    expect(evaluate(entry(), [attLayer(GITHUB_PREDICATE)], { sigstore: true })).toMatchObject({
      status: 'fail',
      reason: expect.stringContaining(`no attestation of type ${SLSA} found (Sigstore bundles)`),
    });
  });
});

describe('the Rekor bundle of a .att layer (intoto / dsse entries, checked offline)', () => {
  const log = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const logId = Buffer.from(keyFingerprint(log.publicKey), 'hex');
  const trust: TrustRoots = {
    ...publicGood,
    tlogs: [
      {
        keyId: logId,
        logID: logId,
        source: 'test',
        publicKey: log.publicKey,
        validFor: { start: new Date(0), end: new Date(4e12) },
        baseURL: 'https://rekor.test',
      },
    ],
  };
  const layer = attLayer(GITHUB_PREDICATE);
  const pem = Buffer.from(keyA.publicKeyPem).toString('base64');
  const envelopeHash = createHash('sha256').update(layer.payload).digest('hex');
  const intoto = (hash = envelopeHash, publicKey = pem) =>
    Buffer.from(
      JSON.stringify({
        apiVersion: '0.0.2',
        kind: 'intoto',
        spec: {
          content: { envelope: { signatures: [{ publicKey }] }, hash: { algorithm: 'sha256', value: hash } },
        },
      }),
    ).toString('base64');
  const rekorAnnotation = (body: string) => {
    const payload = { body, integratedTime: 1_700_000_000, logIndex: 7, logID: logId.toString('hex') };
    const set = sign('sha256', Buffer.from(canonicalJson.canonicalize(payload)), log.privateKey).toString(
      'base64',
    );
    return JSON.stringify({ SignedEntryTimestamp: set, Payload: payload });
  };
  const withLog = entryFrom([
    'attestations:',
    `  - type: ${SLSA}`,
    '    attestors:',
    '      - entries:',
    '          - keys:',
    '              rekor:',
    '                ignoreTlog: false',
    '              publicKeys: |-',
    block(keyA.publicKeyPem, 16),
  ]);

  test('required and present: passes', () => {
    const annotated = {
      ...layer,
      annotations: { ...layer.annotations, 'dev.sigstore.cosign/bundle': rekorAnnotation(intoto()) },
    };
    expect(evaluate(withLog, [annotated], { trust })).toEqual({ status: 'pass' });
  });

  test('required and missing: fails', () => {
    expect(evaluate(withLog, [layer], { trust })).toMatchObject({
      reason: expect.stringContaining('missing transparency-log proof: the attestation has no Rekor bundle'),
    });
  });

  test('an entry for other envelope bytes or another key fails', () => {
    const annotated = (body: string) => ({
      ...layer,
      annotations: { ...layer.annotations, 'dev.sigstore.cosign/bundle': rekorAnnotation(body) },
    });
    expect(evaluate(withLog, [annotated(intoto('0'.repeat(64)))], { trust })).toMatchObject({
      reason: expect.stringContaining(`the Rekor entry is for envelope sha256:${'0'.repeat(64)}`),
    });
    const other = Buffer.from(keyB.publicKeyPem).toString('base64');
    expect(evaluate(withLog, [annotated(intoto(envelopeHash, other))], { trust })).toMatchObject({
      reason: expect.stringContaining('the Rekor entry was made with another public key'),
    });
  });

  test('dsse 0.0.1 and intoto 0.0.1 bodies are read; other kinds are refused', () => {
    const body = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64');
    const signer = { key: keyA.publicKey, certificate: undefined };
    expect(
      attestationEntryMismatch(
        body({
          kind: 'dsse',
          apiVersion: '0.0.1',
          spec: {
            envelopeHash: { algorithm: 'sha256', value: envelopeHash },
            signatures: [{ verifier: pem }],
          },
        }),
        layer.payload,
        signer,
      ),
    ).toBeUndefined();
    expect(
      attestationEntryMismatch(
        body({
          kind: 'intoto',
          apiVersion: '0.0.1',
          spec: { content: { hash: { algorithm: 'sha256', value: envelopeHash } }, publicKey: pem },
        }),
        layer.payload,
        signer,
      ),
    ).toBeUndefined();
    expect(
      attestationEntryMismatch(
        body({ kind: 'hashedrekord', apiVersion: '0.0.1', spec: {} }),
        layer.payload,
        signer,
      ),
    ).toBe('the Rekor entry is of kind hashedrekord 0.0.1, not an intoto or dsse attestation entry');
  });
});
