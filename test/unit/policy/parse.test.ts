import { readFileSync } from 'node:fs';
import path from 'node:path';
import { selectRules } from '../../../lib/policy/match';
import { POD_CONTROLLERS } from '../../../lib/model/kinds';
import { compileWildcard } from '../../../lib/model/wildcard';
import { parsePolicyText } from '../../../lib/policy/compile/documents';
import { AUDIT_MUTATE_DIGEST_MESSAGE } from '../../../lib/policy/compile/policy';
import { parsePolicyFiles } from '../../../lib/policy/policy-set';
import { formatProblem, PolicyLoadError, type PolicyProblem } from '../../../lib/policy/problems';
import type { AttestorSet, KeyAttestor, Policy } from '../../../lib/policy/types';
import { generateKeyPair } from '../../support/cosign-signer';
import { admissionRequest, KYVERNO_SAMPLE_KEY, podRequest } from '../../support/builders';

const FIXTURES = path.resolve(__dirname, '../../fixtures/policies');
const readFixture = (name: string) => readFileSync(path.join(FIXTURES, name), 'utf8');

/** Indents every line of `text` by `spaces`, for PEM blocks inside YAML block scalars. */
function indent(text: string, spaces: number): string {
  return text
    .split('\n')
    .map((line) => ' '.repeat(spaces) + line)
    .join('\n');
}

/**
 * A minimal valid ClusterPolicy; `entry` lines are placed inside `verifyImages[0]` (10 spaces
 * deep), `ruleExtra` inside the rule, `specExtra` inside spec. Line numbers are stable: the
 * verifyImages entry starts on line 13.
 */
function policyYaml(
  options: {
    name?: string;
    entry?: string[];
    ruleExtra?: string[];
    specExtra?: string[];
    metadata?: string[];
  } = {},
): string {
  const entry = options.entry ?? [
    'failureAction: Enforce',
    'attestors:',
    '  - entries:',
    '      - keys:',
    '          publicKeys: |-',
    indent(KYVERNO_SAMPLE_KEY, 14),
  ];
  return [
    'apiVersion: kyverno.io/v1', // 1
    'kind: ClusterPolicy', // 2
    'metadata:', // 3
    `  name: ${options.name ?? 'check-image'}`, // 4
    ...(options.metadata ?? []).map((line) => `  ${line}`),
    'spec:',
    ...(options.specExtra ?? []).map((line) => `  ${line}`),
    '  rules:',
    '    - name: check-image',
    '      match:',
    '        any:',
    '          - resources:',
    '              kinds: [Pod]',
    ...(options.ruleExtra ?? []).map((line) => `      ${line}`),
    '      verifyImages:',
    "        - imageReferences: ['ghcr.io/kyverno/*']",
    ...entry.flatMap((line) => line.split('\n')).map((line) => `          ${line}`),
    '',
  ].join('\n');
}

/** The key attestors of a set (failing the test on a nested set). */
function keysOf(set: AttestorSet | undefined): KeyAttestor[] {
  return (set?.entries ?? []).map((attestor) => {
    if (attestor.kind !== 'key') throw new Error(`${attestor.path} is not a key attestor`);
    return attestor;
  });
}

function parseOk(text: string, source = 'policy.yaml'): Policy[] {
  const { policies, problems } = parsePolicyText(text, source);
  expect(problems.map(formatProblem)).toEqual([]);
  return policies;
}

function parseProblems(
  text: string,
  source = 'policy.yaml',
): { policies: Policy[]; problems: PolicyProblem[] } {
  const result = parsePolicyText(text, source);
  expect(result.problems.length).toBeGreaterThan(0);
  return result;
}

function lineOf(text: string, needle: string): number {
  const index = text.split('\n').findIndex((line) => line.includes(needle));
  if (index === -1) throw new Error(`${needle} not in text`);
  return index + 1;
}

describe("Kyverno's sample policy", () => {
  const current = parseOk(readFixture('kyverno-check-image.yaml'), 'kyverno-check-image.yaml');
  const legacy = parseOk(readFixture('kyverno-check-image-legacy.yaml'), 'kyverno-check-image-legacy.yaml');

  test('loads in the current syntax (imageReferences, attestors, failureAction, match.any)', () => {
    expect(current).toHaveLength(1);
    const policy = current[0]!;
    expect(policy).toMatchObject({ kind: 'ClusterPolicy', name: 'check-image', failurePolicy: 'Fail' });
    const entry = policy.rules[0]!.verifyImages[0]!;
    expect(entry).toMatchObject({
      imageReferences: [{ pattern: 'ghcr.io/kyverno/test-verify-image*' }],
      failureAction: 'Enforce',
      mutateDigest: true,
      verifyDigest: true,
      required: true,
    });
    expect(entry.attestorSets).toHaveLength(1);
    expect(entry.attestorSets[0]!.count).toBe(1);
    expect(entry.attestorSets[0]!.entries).toHaveLength(1);
  });

  test('loads in the original syntax (image + key, validationFailureAction: enforce, match.resources)', () => {
    expect(legacy).toHaveLength(1);
    const entry = legacy[0]!.rules[0]!.verifyImages[0]!;
    expect(entry.imageReferences.map((item) => item.pattern)).toEqual([
      'ghcr.io/kyverno/test-verify-image:*',
    ]);
    expect(entry.failureAction).toBe('Enforce');
    expect(entry.attestorSets).toHaveLength(1);
    expect(entry.attestorSets[0]!.entries[0]!.path).toBe('spec.rules[0].verifyImages[0].key');
  });

  test('both syntaxes compile to the same checks', () => {
    const summarise = (policy: Policy) => ({
      kind: policy.kind,
      name: policy.name,
      failurePolicy: policy.failurePolicy,
      autogen: policy.autogenControllers,
      rules: policy.rules.map((item) => ({
        name: item.name,
        kinds: [...item.match.any, ...item.match.all].map((description) => description.kinds),
        verifyImages: item.verifyImages.map((entry) => ({
          failureAction: entry.failureAction,
          mutateDigest: entry.mutateDigest,
          verifyDigest: entry.verifyDigest,
          required: entry.required,
          repository: entry.repository,
          sets: entry.attestorSets.map((set) => ({
            required: set.count ?? set.entries.length,
            keys: keysOf(set).map((attestor) => [attestor.key.fingerprint, attestor.hash]),
          })),
        })),
      })),
    });

    expect(summarise(legacy[0]!)).toEqual(summarise(current[0]!));
    expect(keysOf(current[0]!.rules[0]!.verifyImages[0]!.attestorSets[0])[0]!.key.fingerprint).toBe(
      keysOf(legacy[0]!.rules[0]!.verifyImages[0]!.attestorSets[0])[0]!.key.fingerprint,
    );
  });

  test('both select the same Pod requests', () => {
    const set = (policies: Policy[]) => ({ policies, version: 'v' });
    const signedPod = podRequest('signed', ['ghcr.io/kyverno/test-verify-image:signed']);
    const deployment = admissionRequest({ kind: { group: 'apps', version: 'v1', kind: 'Deployment' } });

    for (const policies of [current, legacy]) {
      expect(selectRules(set(policies), signedPod).map((binding) => binding.ruleName)).toEqual([
        'check-image',
      ]);
      expect(selectRules(set(policies), deployment).map((binding) => binding.ruleName)).toEqual([
        'autogen-check-image',
      ]);
    }
  });
});

describe('parsePolicyText: file formats', () => {
  test('reads every policy of a multi-document YAML file, naming each document', () => {
    const text = [policyYaml({ name: 'first' }), '---', policyYaml({ name: 'second' })].join('\n');

    const policies = parseOk(text, 'two.yaml');

    expect(policies.map((policy) => policy.name)).toEqual(['first', 'second']);
    expect(policies.map((policy) => policy.source)).toEqual(['two.yaml#1', 'two.yaml#2']);
  });

  test('a document with a problem yields no policy; the other documents still load', () => {
    const text = [
      policyYaml({ name: 'good' }),
      '---',
      policyYaml({ name: 'bad', entry: ['failureAction: Enforce', 'attestors: []', 'colour: blue'] }),
    ].join('\n');

    const { policies, problems } = parsePolicyText(text, 'mixed.yaml');

    expect(policies.map((policy) => policy.name)).toEqual(['good']);
    expect(problems.map((problem) => problem.source)).toContain('mixed.yaml#2');
    expect(problems.map((problem) => `${problem.path}: ${problem.message}`)).toContain(
      'spec.rules[0].verifyImages[0].colour: unknown field',
    );
  });

  test('reads JSON', () => {
    const document = {
      apiVersion: 'kyverno.io/v1',
      kind: 'ClusterPolicy',
      metadata: { name: 'from-json' },
      spec: {
        rules: [
          {
            name: 'r',
            match: { any: [{ resources: { kinds: ['Pod'] } }] },
            verifyImages: [
              {
                imageReferences: ['*'],
                failureAction: 'Enforce',
                attestors: [{ entries: [{ keys: { publicKeys: KYVERNO_SAMPLE_KEY } }] }],
              },
            ],
          },
        ],
      },
    };

    const policies = parseOk(JSON.stringify(document, null, 2), 'policy.json');

    expect(policies.map((policy) => policy.name)).toEqual(['from-json']);
  });

  test('empty files and empty documents yield nothing and no problem', () => {
    expect(parsePolicyText('', 'empty.yaml')).toEqual({ policies: [], problems: [] });
    expect(parsePolicyText('---\n---\n', 'empty.yaml')).toEqual({ policies: [], problems: [] });
  });

  test('a YAML syntax error is a problem with the file and its line', () => {
    const text = [
      'apiVersion: kyverno.io/v1',
      'kind: ClusterPolicy',
      'metadata:',
      '  name: x',
      '  name: y',
      '',
    ].join('\n');

    const { policies, problems } = parseProblems(text, 'dup.yaml');

    expect(policies).toEqual([]);
    expect(problems).toEqual([
      { source: 'dup.yaml', line: 5, path: '', message: 'YAML error: Map keys must be unique' },
    ]);
    expect(formatProblem(problems[0]!)).toBe('dup.yaml:5: YAML error: Map keys must be unique');
  });

  test('a YAML error inside a flow collection names its line', () => {
    const text = [
      'apiVersion: kyverno.io/v1',
      'kind: ClusterPolicy',
      'spec:',
      '  rules: [',
      '    - a',
      '',
    ].join('\n');

    const { problems } = parseProblems(text, 'flow.yaml');

    expect(problems[0]).toMatchObject({ source: 'flow.yaml', line: 5 });
    expect(problems[0]!.message).toMatch(/^YAML error: /);
  });

  test('a JSON syntax error is reported too', () => {
    const { problems } = parseProblems('{"apiVersion": "kyverno.io/v1", ', 'broken.json');

    expect(problems[0]).toMatchObject({ source: 'broken.json', line: 1 });
    expect(problems[0]!.message).toMatch(/^YAML error: /);
  });
});

describe('parsePolicyText: unknown and unsupported fields', () => {
  test('an unknown attestor field is reported with its full path and line', () => {
    const entry = [
      'failureAction: Enforce',
      'attestors:',
      '  - entries:',
      '      - keys:',
      '          foo: bar',
      '          publicKeys: |-',
      indent(KYVERNO_SAMPLE_KEY, 14),
    ];
    const text = policyYaml({ entry });

    const { policies, problems } = parseProblems(text);

    expect(policies).toEqual([]);
    expect(problems).toEqual([
      {
        source: 'policy.yaml',
        line: lineOf(text, 'foo: bar'),
        path: 'spec.rules[0].verifyImages[0].attestors[0].entries[0].keys.foo',
        message: 'unknown field',
      },
    ]);
  });

  test('an unknown top-level spec field is reported, not ignored', () => {
    const text = policyYaml({ specExtra: ['validationFailureActon: Enforce'] });

    const { problems } = parseProblems(text);

    expect(problems.map(formatProblem)).toEqual([
      `policy.yaml:${lineOf(text, 'validationFailureActon')} spec.validationFailureActon: unknown field`,
    ]);
  });

  test('keyless attestors load (their fields are tested in test/unit/verify/attestor-policy.test.ts)', () => {
    const entry = [
      'failureAction: Enforce',
      'attestors:',
      '  - entries:',
      '      - keyless:',
      '          subject: someone@example.com',
      '          issuer: https://accounts.example.com',
    ];

    const [policy] = parseOk(policyYaml({ entry }));

    expect(policy?.rules[0]?.verifyImages[0]?.attestorSets[0]?.entries[0]?.kind).toBe('keyless');
  });

  test('namespaceSelector is not supported, with the reason', () => {
    const text = policyYaml().replace(
      '              kinds: [Pod]',
      '              kinds: [Pod]\n              namespaceSelector:\n                matchLabels: {team: a}',
    );

    const { problems } = parseProblems(text);

    expect(problems).toHaveLength(1);
    expect(problems[0]!.path).toBe('spec.rules[0].match.any[0].resources.namespaceSelector');
    expect(problems[0]!.message).toMatch(
      /^is not supported: an external webhook cannot read Namespace labels/,
    );
  });

  test('a validate rule is not supported, with the reason', () => {
    const text = [
      'apiVersion: kyverno.io/v1',
      'kind: ClusterPolicy',
      'metadata:',
      '  name: require-labels',
      'spec:',
      '  rules:',
      '    - name: check-labels',
      '      match:',
      '        any:',
      '          - resources:',
      '              kinds: [Pod]',
      '      validate:',
      '        message: label app is required',
      '        pattern:',
      '          metadata:',
      '            labels:',
      '              app: "?*"',
      '',
    ].join('\n');

    const { policies, problems } = parseProblems(text);

    expect(policies).toEqual([]);
    expect(problems.map(formatProblem)).toEqual([
      'policy.yaml:13 spec.rules[0].validate: is not supported: imagegate evaluates verifyImages rules only',
    ]);
  });

  test.each([
    ['validate over attestations', ['validate:', '  deny: {}'], 'use attestations[].conditions'],
    [
      'kms keys',
      ['attestors:', '  - entries:', '      - keys:', '          kms: awskms:///alias/x'],
      'KMS keys',
    ],
    [
      'Secret keys',
      ['attestors:', '  - entries:', '      - keys:', '          secret: {name: k, namespace: n}'],
      'Kubernetes Secrets',
    ],
    ['Notary signatures', ['type: Notary'], 'Notary verification'],
  ])('%s are not supported, with the reason', (_name, lines, reason) => {
    const { problems } = parseProblems(policyYaml({ entry: ['failureAction: Enforce', ...lines] }));

    expect(
      problems.some(
        (problem) => problem.message.startsWith('is not supported: ') && problem.message.includes(reason),
      ),
    ).toBe(true);
  });

  test('a rekor block without ignoreTlog requires the log (checked offline); with ignoreTlog: true it does not', () => {
    const withRekor = (ignoreTlog: string[]) =>
      policyYaml({
        entry: [
          'failureAction: Enforce',
          'attestors:',
          '  - entries:',
          '      - keys:',
          '          rekor:',
          '            url: https://rekor.sigstore.dev',
          ...ignoreTlog,
          '          publicKeys: |-',
          indent(KYVERNO_SAMPLE_KEY, 14),
        ],
      });

    const required = keysOf(parseOk(withRekor([]))[0]?.rules[0]?.verifyImages[0]?.attestorSets[0]);
    expect(required[0]?.rekor).toMatchObject({ required: true, url: 'https://rekor.sigstore.dev' });

    const ignored = keysOf(
      parseOk(withRekor(['            ignoreTlog: true']))[0]?.rules[0]?.verifyImages[0]?.attestorSets[0],
    );
    expect(ignored[0]?.rekor.required).toBe(false);
  });
});

describe('parsePolicyText: failure actions and digests', () => {
  test("Audit with the default mutateDigest is refused with Kyverno's message", () => {
    const text = policyYaml({ entry: ['failureAction: Audit', 'key: |-', indent(KYVERNO_SAMPLE_KEY, 2)] });

    const { problems } = parseProblems(text);

    expect(problems).toEqual([
      {
        source: 'policy.yaml',
        line: expect.any(Number) as number,
        path: 'spec.rules[0].verifyImages[0].mutateDigest',
        message: AUDIT_MUTATE_DIGEST_MESSAGE,
      },
    ]);
  });

  test('Audit is the default action, so an entry without one needs mutateDigest: false', () => {
    const noAction = policyYaml({ entry: ['key: |-', indent(KYVERNO_SAMPLE_KEY, 2)] });
    expect(parseProblems(noAction).problems.map((problem) => problem.message)).toEqual([
      AUDIT_MUTATE_DIGEST_MESSAGE,
    ]);

    const audited = policyYaml({ entry: ['mutateDigest: false', 'key: |-', indent(KYVERNO_SAMPLE_KEY, 2)] });
    const entry = parseOk(audited)[0]!.rules[0]!.verifyImages[0]!;
    expect(entry.failureAction).toBe('Audit');
    expect(entry.mutateDigest).toBe(false);
  });

  test('legacy spec.validationFailureAction applies to entries without their own action, in any case', () => {
    const text = policyYaml({
      specExtra: ['validationFailureAction: audit'],
      entry: ['mutateDigest: false', 'key: |-', indent(KYVERNO_SAMPLE_KEY, 2)],
    });

    expect(parseOk(text)[0]!.rules[0]!.verifyImages[0]!.failureAction).toBe('Audit');
  });

  test('an entry failureAction wins over the policy action and its overrides', () => {
    const text = policyYaml({
      specExtra: [
        'validationFailureAction: Audit',
        'validationFailureActionOverrides:',
        '  - action: Audit',
        '    namespaces: [dev]',
      ],
    });

    const entry = parseOk(text)[0]!.rules[0]!.verifyImages[0]!;

    expect(entry.failureAction).toBe('Enforce');
    expect(entry.failureActionOverrides).toEqual([]);
  });

  test('validationFailureActionOverrides are kept for entries without their own action', () => {
    const text = policyYaml({
      specExtra: [
        'validationFailureAction: Enforce',
        'validationFailureActionOverrides:',
        '  - action: audit',
        '    namespaces: [dev, test-*]',
      ],
      entry: ['key: |-', indent(KYVERNO_SAMPLE_KEY, 2)],
    });

    const entry = parseOk(text)[0]!.rules[0]!.verifyImages[0]!;

    expect(entry.failureAction).toBe('Enforce');
    expect(entry.failureActionOverrides).toEqual([
      { action: 'Audit', namespaces: ['dev', 'test-*'].map(compileWildcard) },
    ]);
  });

  test('a failure action that is neither Audit nor Enforce is refused', () => {
    const { problems } = parseProblems(
      policyYaml({ entry: ['failureAction: Warn', 'key: |-', indent(KYVERNO_SAMPLE_KEY, 2)] }),
    );

    expect(problems.map((problem) => `${problem.path}: ${problem.message}`)).toContain(
      'spec.rules[0].verifyImages[0].failureAction: must be Audit or Enforce, got "Warn"',
    );
  });

  test('defaults: mutateDigest, verifyDigest, required and useCache true; failurePolicy Fail; sha256', () => {
    const policy = parseOk(policyYaml())[0]!;
    const entry = policy.rules[0]!.verifyImages[0]!;

    expect(policy.failurePolicy).toBe('Fail');
    expect(entry).toMatchObject({ mutateDigest: true, verifyDigest: true, required: true, useCache: true });
    expect(entry.skipImageReferences).toEqual([]);
    expect(entry.attestorSets[0]!.count).toBeUndefined();
    expect(keysOf(entry.attestorSets[0])[0]!.hash).toBe('sha256');
  });

  test('webhookConfiguration.failurePolicy: Ignore is read', () => {
    const text = policyYaml({
      specExtra: ['webhookConfiguration:', '  failurePolicy: Ignore', '  timeoutSeconds: 30'],
    });

    expect(parseOk(text)[0]!.failurePolicy).toBe('Ignore');
  });

  test('signatureAlgorithm sets the hash of the entry keys', () => {
    const entry = [
      'failureAction: Enforce',
      'attestors:',
      '  - entries:',
      '      - signatureAlgorithm: sha384',
      '        keys:',
      '          publicKeys: |-',
      indent(KYVERNO_SAMPLE_KEY, 14),
    ];

    expect(
      keysOf(parseOk(policyYaml({ entry }))[0]!.rules[0]!.verifyImages[0]!.attestorSets[0])[0]!.hash,
    ).toBe('sha384');
  });
});

describe('parsePolicyText: keys and attestor sets', () => {
  const keyA = generateKeyPair('ecdsa-p256').publicKeyPem.trim();
  const keyB = generateKeyPair('ecdsa-p256').publicKeyPem.trim();
  const keyC = generateKeyPair('ed25519').publicKeyPem.trim();

  const keysEntry = (pems: string, count?: number) => [
    'failureAction: Enforce',
    'attestors:',
    ...(count === undefined ? ['  - entries:'] : [`  - count: ${count}`, '    entries:']),
    '      - keys:',
    '          publicKeys: |-',
    indent(pems, 14),
  ];

  test('several keys in one publicKeys string become one attestor each, in the same set', () => {
    const policy = parseOk(policyYaml({ entry: keysEntry([keyA, keyB, keyC].join('\n'), 2) }))[0]!;
    const set = policy.rules[0]!.verifyImages[0]!.attestorSets[0]!;

    expect(set.count).toBe(2);
    expect(set.entries).toHaveLength(3);
    expect(new Set(keysOf(set).map((attestor) => attestor.key.fingerprint)).size).toBe(3);
    expect(keysOf(set).map((attestor) => attestor.key.key.asymmetricKeyType)).toEqual([
      'ec',
      'ec',
      'ed25519',
    ]);
  });

  test('count larger than the number of attestors is refused', () => {
    const { problems } = parseProblems(policyYaml({ entry: keysEntry([keyA, keyB].join('\n'), 3) }));

    expect(problems.map((problem) => `${problem.path}: ${problem.message}`)).toEqual([
      'spec.rules[0].verifyImages[0].attestors[0].count: is 3 but the set has only 2 attestors: it could never be satisfied',
    ]);
  });

  test('count must be a positive integer', () => {
    const { problems } = parseProblems(policyYaml({ entry: keysEntry(keyA, 0) }));

    expect(problems.map((problem) => problem.path)).toEqual([
      'spec.rules[0].verifyImages[0].attestors[0].count',
    ]);
  });

  test('a publicKeys value without a PEM key is refused', () => {
    const text = policyYaml({ entry: keysEntry('not a key') });

    const { problems } = parseProblems(text);

    expect(problems).toEqual([
      {
        source: 'policy.yaml',
        line: lineOf(text, 'publicKeys: |-'),
        path: 'spec.rules[0].verifyImages[0].attestors[0].entries[0].keys.publicKeys',
        message: 'no PEM public key found (expected -----BEGIN PUBLIC KEY-----)',
      },
    ]);
  });

  test('a PEM block that is not a readable key is refused', () => {
    const broken = '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----';

    const { problems } = parseProblems(policyYaml({ entry: keysEntry(broken) }));

    expect(problems[0]!.path).toBe('spec.rules[0].verifyImages[0].attestors[0].entries[0].keys.publicKeys');
    expect(problems[0]!.message).toMatch(/^unreadable public key: /);
  });

  test('a legacy key that is not PEM is refused at spec.rules[0].verifyImages[0].key', () => {
    const { problems } = parseProblems(policyYaml({ entry: ['failureAction: Enforce', 'key: nope'] }));

    expect(problems.map((problem) => problem.path)).toEqual(['spec.rules[0].verifyImages[0].key']);
  });

  test('an entry without attestors loads: Kyverno digest-only checks (pin, or require a digest)', () => {
    const [policy] = parseOk(policyYaml({ entry: ['failureAction: Enforce', 'verifyDigest: true'] }));

    expect(policy!.rules[0]!.verifyImages[0]!.attestorSets).toEqual([]);
  });

  test.each([
    ['k8s://kyverno/cosign-key', /^is not supported: an external webhook cannot read Kubernetes Secrets/],
    ['awskms://alias/cosign', /^is not supported: KMS keys are not implemented/],
    ['{{ keys.data.org }}', /^is not supported: Kyverno variables/],
  ])('a key given as %s is refused as unsupported, not as a bad PEM', (key, reason) => {
    const { problems } = parseProblems(
      policyYaml({
        entry: [
          'failureAction: Enforce',
          'attestors:',
          '  - entries:',
          '      - keys:',
          `          publicKeys: "${key}"`,
        ],
      }),
    );
    expect(problems).toEqual([
      expect.objectContaining({
        path: 'spec.rules[0].verifyImages[0].attestors[0].entries[0].keys.publicKeys',
        message: expect.stringMatching(reason),
      }),
    ]);
  });

  test('entry annotations and repository are kept on each attestor', () => {
    const entry = [
      'failureAction: Enforce',
      'repository: ghcr.io/org/signatures',
      'attestors:',
      '  - entries:',
      '      - annotations: {env: prod}',
      '        repository: ghcr.io/org/other-signatures',
      '        keys:',
      '          publicKeys: |-',
      indent(keyA, 14),
    ];

    const verify = parseOk(policyYaml({ entry }))[0]!.rules[0]!.verifyImages[0]!;

    expect(verify.repository).toBe('ghcr.io/org/signatures');
    expect(verify.attestorSets[0]!.entries[0]).toMatchObject({
      annotations: { env: 'prod' },
      repository: 'ghcr.io/org/other-signatures',
    });
  });
});

describe('parsePolicyText: policy level', () => {
  test('admission: false yields a policy without rules (it only runs in background scans)', () => {
    const policy = parseOk(policyYaml({ specExtra: ['admission: false'] }))[0]!;

    expect(policy.name).toBe('check-image');
    expect(policy.rules).toEqual([]);
  });

  test('without the autogen annotation, Pod rules cover every pod controller', () => {
    expect(parseOk(policyYaml())[0]!.autogenControllers).toEqual([...POD_CONTROLLERS]);
    expect(POD_CONTROLLERS).toEqual([
      'DaemonSet',
      'Deployment',
      'Job',
      'StatefulSet',
      'ReplicaSet',
      'ReplicationController',
      'CronJob',
    ]);
  });

  test.each([
    ['none', []],
    ['Deployment,CronJob', ['Deployment', 'CronJob']],
    [' Deployment , StatefulSet ', ['Deployment', 'StatefulSet']],
  ])('autogen-controllers annotation %j -> %j', (value, controllers) => {
    const text = policyYaml({
      metadata: ['annotations:', `  pod-policies.kyverno.io/autogen-controllers: '${value}'`],
    });

    expect(parseOk(text)[0]!.autogenControllers).toEqual(controllers);
  });

  test('an unknown controller in the autogen annotation is refused', () => {
    const text = policyYaml({
      metadata: ['annotations:', '  pod-policies.kyverno.io/autogen-controllers: Deployment,Pods'],
    });

    const { problems } = parseProblems(text);

    expect(problems.map((problem) => `${problem.path}: ${problem.message}`)).toEqual([
      'metadata.annotations: pod-policies.kyverno.io/autogen-controllers: unknown controller "Pods"',
    ]);
  });

  test('a namespaced Policy needs a namespace and keeps it; a ClusterPolicy must not have one', () => {
    const namespaced = policyYaml({ metadata: ['namespace: team-a'] }).replace(
      'kind: ClusterPolicy',
      'kind: Policy',
    );
    expect(parseOk(namespaced)[0]).toMatchObject({ kind: 'Policy', namespace: 'team-a' });

    const missing = policyYaml().replace('kind: ClusterPolicy', 'kind: Policy');
    expect(parseProblems(missing).problems.map((problem) => `${problem.path}: ${problem.message}`)).toEqual([
      'metadata.namespace: is required for a namespaced Policy',
    ]);

    const clustered = policyYaml({ metadata: ['namespace: team-a'] });
    expect(parseProblems(clustered).problems.map((problem) => `${problem.path}: ${problem.message}`)).toEqual(
      ['metadata.namespace: must not be set on a ClusterPolicy'],
    );
  });

  test('other kinds and API versions are refused', () => {
    const wrongKind = policyYaml().replace('kind: ClusterPolicy', 'kind: ImageValidatingPolicy');
    expect(parseProblems(wrongKind).problems.map((problem) => `${problem.path}: ${problem.message}`)).toEqual(
      ['kind: must be ClusterPolicy or Policy, got "ImageValidatingPolicy"'],
    );

    const wrongVersion = policyYaml().replace('kyverno.io/v1', 'kyverno.io/v9');
    expect(parseProblems(wrongVersion).problems.map((problem) => problem.path)).toEqual(['apiVersion']);
  });
});

describe('parsePolicyFiles', () => {
  test('the same policy name in two files is a problem naming both files', () => {
    const files = [
      { name: 'a.yaml', text: policyYaml({ name: 'check-image' }) },
      { name: 'b.yaml', text: policyYaml({ name: 'check-image' }) },
    ];

    const { problems } = parsePolicyFiles(files);

    expect(problems).toEqual([
      {
        source: 'b.yaml',
        line: undefined,
        path: 'metadata.name',
        message: 'ClusterPolicy check-image is also defined in a.yaml',
      },
    ]);
    expect(formatProblem(problems[0]!)).toBe(
      'b.yaml metadata.name: ClusterPolicy check-image is also defined in a.yaml',
    );
  });

  test('namespaced Policies of the same name in different namespaces do not clash', () => {
    const namespaced = (namespace: string) =>
      policyYaml({ metadata: [`namespace: ${namespace}`] }).replace('kind: ClusterPolicy', 'kind: Policy');

    const { policies, problems } = parsePolicyFiles([
      { name: 'a.yaml', text: namespaced('team-a') },
      { name: 'b.yaml', text: namespaced('team-b') },
    ]);

    expect(problems).toEqual([]);
    expect(policies).toHaveLength(2);
  });

  test('problems of every file are returned together, and PolicyLoadError lists them', () => {
    const files = [
      { name: 'a.yaml', text: policyYaml({ specExtra: ['colour: blue'] }) },
      { name: 'b.yaml', text: 'kind: [' },
    ];

    const { policies, problems } = parsePolicyFiles(files);
    const loadError = new PolicyLoadError(problems);

    expect(policies).toEqual([]);
    expect(problems.map((problem) => problem.source)).toEqual(['a.yaml', 'b.yaml']);
    expect(loadError.code).toBe('INVALID_POLICY');
    expect(loadError.problems).toBe(problems);
    for (const problem of problems) expect(loadError.message).toContain(formatProblem(problem));
  });
});

describe('formatProblem', () => {
  test('file:line field.path: reason', () => {
    expect(
      formatProblem({ source: 'p.yaml', line: 12, path: 'spec.rules[0].name', message: 'is required' }),
    ).toBe('p.yaml:12 spec.rules[0].name: is required');
  });

  test('leaves out what it does not know', () => {
    expect(formatProblem({ source: 'p.yaml', line: undefined, path: 'metadata.name', message: 'dup' })).toBe(
      'p.yaml metadata.name: dup',
    );
    expect(formatProblem({ source: 'p.yaml', line: 3, path: '', message: 'YAML error: x' })).toBe(
      'p.yaml:3: YAML error: x',
    );
  });
});

describe('parsePolicyText: attestations and preconditions', () => {
  const keyLines = ['          - keys:', '              publicKeys: |-', indent(KYVERNO_SAMPLE_KEY, 16)];
  const attestation = (lines: string[], attestors = true) =>
    policyYaml({
      entry: [
        'failureAction: Enforce',
        'attestations:',
        ...lines.map((line) => `  ${line}`),
        ...(attestors ? ['    attestors:', '      - entries:', ...keyLines] : []),
      ],
    });

  test('type (or predicateType), name, attestors and conditions load', () => {
    const [policy] = parseOk(
      attestation([
        '- name: provenance',
        '  predicateType: https://slsa.dev/provenance/v0.2',
        '  conditions:',
        '    - all:',
        "        - key: '{{ builder.id }}'",
        '          operator: Equals',
        "          value: 'https://github.com/*'",
        '          message: built elsewhere',
      ]),
    );
    const [loaded] = policy?.rules[0]?.verifyImages[0]?.attestations ?? [];
    expect(loaded).toMatchObject({
      path: 'spec.rules[0].verifyImages[0].attestations[0]',
      name: 'provenance',
      type: 'https://slsa.dev/provenance/v0.2',
      conditions: [
        {
          any: [],
          all: [
            {
              key: '{{ builder.id }}',
              operator: 'Equals',
              value: 'https://github.com/*',
              message: 'built elsewhere',
            },
          ],
        },
      ],
    });
    expect(loaded?.attestorSets[0]?.entries).toHaveLength(1);
  });

  test.each<[string, string[], boolean, string]>([
    ['no type', ['- name: x'], true, 'spec.rules[0].verifyImages[0].attestations[0].type: is required'],
    [
      'no attestors (Kyverno would accept any Sigstore certificate)',
      ['- type: https://slsa.dev/provenance/v0.2'],
      false,
      'spec.rules[0].verifyImages[0].attestations[0].attestors: is required: without attestors',
    ],
    [
      'type and predicateType differ',
      ['- type: a', '  predicateType: b'],
      true,
      'spec.rules[0].verifyImages[0].attestations[0].predicateType: is "b" but type is "a"',
    ],
    [
      'an unknown operator',
      ['- type: a', '  conditions:', '    - any:', "        - {key: '{{ x }}', operator: Matches, value: y}"],
      true,
      'spec.rules[0].verifyImages[0].attestations[0].conditions[0].any[0].operator: must be one of Equals',
    ],
    [
      'invalid JMESPath',
      [
        '- type: a',
        '  conditions:',
        '    - all:',
        "        - {key: '{{ builder.[ }}', operator: Equals, value: y}",
      ],
      true,
      'spec.rules[0].verifyImages[0].attestations[0].conditions[0].all[0].key: invalid variable {{ builder.[ }}',
    ],
    [
      'a Kyverno-only function',
      [
        '- type: a',
        '  conditions:',
        '    - all:',
        "        - {key: 'x', operator: Equals, value: '{{ time_now() }}'}",
      ],
      true,
      'spec.rules[0].verifyImages[0].attestations[0].conditions[0].all[0].value: is not supported: JMESPath function time_now()',
    ],
    [
      'an unknown field in a condition block',
      ['- type: a', '  conditions:', '    - none: []'],
      true,
      'spec.rules[0].verifyImages[0].attestations[0].conditions[0].none: unknown field',
    ],
  ])('%s is a load error at its field', (_name, lines, attestors, expected) => {
    const { problems } = parseProblems(attestation(lines, attestors));
    expect(problems.map((problem) => `${problem.path}: ${problem.message}`).join('\n')).toContain(expected);
  });

  test('a valid expression that only fails on missing data is not a load error', () => {
    parseOk(
      attestation([
        '- type: a',
        '  conditions:',
        '    - all:',
        "        - {key: '{{ length(matches) }}', operator: LessThan, value: 1}",
      ]),
    );
  });

  test('preconditions: any/all, and the legacy list form as all', () => {
    const block = parseOk(
      policyYaml({
        ruleExtra: [
          'preconditions:',
          '  any:',
          "    - {key: '{{ request.operation }}', operator: Equals, value: CREATE}",
        ],
      }),
    )[0]?.rules[0]?.preconditions;
    expect(block).toEqual({
      any: [{ key: '{{ request.operation }}', operator: 'Equals', value: 'CREATE', message: undefined }],
      all: [],
    });
    const legacy = parseOk(
      policyYaml({
        ruleExtra: [
          'preconditions:',
          "  - {key: '{{ request.namespace }}', operator: NotEquals, value: kube-system}",
        ],
      }),
    )[0]?.rules[0]?.preconditions;
    expect(legacy?.all).toHaveLength(1);
    expect(legacy?.any).toEqual([]);
  });

  test('preconditions with an invalid variable, and context, are refused at their fields', () => {
    const { problems } = parseProblems(
      policyYaml({
        ruleExtra: [
          'context:',
          '  - name: cm',
          '    configMap: {name: x, namespace: y}',
          'preconditions:',
          '  all:',
          "    - {key: '{{ request.[ }}', operator: Equals, value: x}",
        ],
      }),
    );
    expect(problems.map((problem) => problem.path)).toEqual([
      'spec.rules[0].context',
      'spec.rules[0].preconditions.all[0].key',
    ]);
    expect(problems[0]?.message).toMatch(/^is not supported: context entries \(ConfigMap, apiCall/);
  });
});

describe('parsePolicyText: imageRegistryCredentials', () => {
  const withCredentials = (lines: string[]) =>
    policyYaml({
      entry: [
        'failureAction: Enforce',
        'imageRegistryCredentials:',
        ...lines.map((line) => `  ${line}`),
        'attestors:',
        '  - entries:',
        '      - keys:',
        '          publicKeys: |-',
        indent(KYVERNO_SAMPLE_KEY, 14),
      ],
    });

  test('secrets become the entry’s credential secret ids; default and amazon providers are accepted', () => {
    const [policy] = parseOk(
      withCredentials(['secrets: [imagegate/ghcr, team-a/quay]', 'providers: [default, amazon]']),
    );
    expect(policy!.rules[0]!.verifyImages[0]!.credentialSecrets).toEqual(['imagegate/ghcr', 'team-a/quay']);
  });

  test.each([
    [
      'allowInsecureRegistry: true',
      'allowInsecureRegistry',
      /^is not supported: a policy cannot lower transport security/,
    ],
    ['providers: [azure]', 'providers', /^azure credential helper is not supported/],
  ])('%s is refused at its field', (line, field, reason) => {
    const { problems } = parseProblems(withCredentials([line]));
    expect(problems).toEqual([
      expect.objectContaining({
        path: `spec.rules[0].verifyImages[0].imageRegistryCredentials.${field}`,
        message: expect.stringMatching(reason),
      }),
    ]);
  });
});
