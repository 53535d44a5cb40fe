import { parsePolicyText } from '../../../lib/policy/compile/documents';
import { compileWildcard } from '../../../lib/model/wildcard';
import { AUDIT_MUTATE_DIGEST_MESSAGE } from '../../../lib/policy/compile/policy';
import { formatProblem } from '../../../lib/policy/problems';
import { KYVERNO_SAMPLE_KEY } from '../../support/builders';

/** A ClusterPolicy whose single rule has the given verifyImages entries (YAML lines, 10 spaces deep). */
function policy(entries: readonly (readonly string[])[], specExtra: readonly string[] = []): string {
  return [
    'apiVersion: kyverno.io/v1',
    'kind: ClusterPolicy',
    'metadata:',
    '  name: p',
    'spec:',
    ...specExtra.map((line) => `  ${line}`),
    '  rules:',
    '    - name: r',
    '      match:',
    '        any:',
    '          - resources:',
    '              kinds: [Pod]',
    '      verifyImages:',
    ...entries.flatMap((entry) =>
      entry.flatMap((line, index) =>
        line.split('\n').map((part) => `${index === 0 ? '        - ' : '          '}${part}`),
      ),
    ),
    '',
  ].join('\n');
}

const keyLines = (indent: number): string =>
  KYVERNO_SAMPLE_KEY.split('\n')
    .map((line) => ' '.repeat(indent) + line)
    .join('\n');

/** One key attestor entry (YAML lines), `indent` spaces deeper than the verifyImages entry. */
const keyEntry = (indent: number): string[] =>
  ['- keys:', '    publicKeys: |-', keyLines(6)]
    .flatMap((line) => line.split('\n'))
    .map((line) => ' '.repeat(indent) + line);

function problemsOf(text: string): string[] {
  return parsePolicyText(text, 'p.yaml').problems.map(formatProblem);
}

const lineOf = (text: string, needle: string, from = 0): number =>
  text.split('\n').findIndex((line, index) => index >= from && line.includes(needle)) + 1;

describe('policies that verify nothing are load errors with their field path', () => {
  test('an attestor set with no entries (it would admit every image as verified)', () => {
    const text = policy([
      ["imageReferences: ['*']", 'failureAction: Enforce', 'attestors:', '  - entries: []'],
    ]);

    expect(problemsOf(text)).toEqual([
      `p.yaml:${lineOf(text, 'entries: []')} spec.rules[0].verifyImages[0].attestors[0].entries: must not be empty: an attestor set without entries is satisfied by every image, signed or not`,
    ]);
  });

  test('a nested attestor set with no entries, at any depth', () => {
    const text = policy([
      [
        "imageReferences: ['*']",
        'failureAction: Enforce',
        'attestors:',
        '  - count: 1',
        '    entries:',
        '      - attestor:',
        '          entries:',
        '            - attestor:',
        '                entries: []',
      ],
    ]);

    expect(problemsOf(text)).toEqual([
      `p.yaml:${lineOf(text, 'entries: []')} spec.rules[0].verifyImages[0].attestors[0].entries[0].attestor.entries[0].attestor.entries: must not be empty: an attestor set without entries is satisfied by every image, signed or not`,
    ]);
  });

  test("an attestation's attestor set with no entries", () => {
    const text = policy([
      [
        "imageReferences: ['*']",
        'failureAction: Enforce',
        'attestations:',
        '  - type: https://slsa.dev/provenance/v0.2',
        '    attestors:',
        '      - entries: []',
      ],
    ]);

    expect(problemsOf(text)).toEqual([
      `p.yaml:${lineOf(text, 'entries: []')} spec.rules[0].verifyImages[0].attestations[0].attestors[0].entries: must not be empty: an attestor set without entries is satisfied by every image, signed or not`,
    ]);
  });

  test.each(['attestors: []', 'attestations: []'])('an entry whose only check is %s', (field) => {
    const text = policy([["imageReferences: ['*']", 'failureAction: Enforce', field]]);

    expect(problemsOf(text)).toEqual([
      `p.yaml:${lineOf(text, field)} spec.rules[0].verifyImages[0].${field.split(':')[0] ?? ''}: must not be empty: an entry with no attestors and no attestations verifies no signature, and every image it matches would be admitted as verified; list the keys, certificates or keyless identities that sign the images (or leave both fields out for a digest-only entry)`,
    ]);
  });

  test('attestors: [] next to attestations that verify is accepted, as in Kyverno', () => {
    const text = policy([
      [
        "imageReferences: ['*']",
        'failureAction: Enforce',
        'attestors: []',
        'attestations:',
        '  - type: https://slsa.dev/provenance/v0.2',
        '    attestors:',
        '      - entries:',
        ...keyEntry(10),
      ],
    ]);

    expect(problemsOf(text)).toEqual([]);
  });

  test('a rule with an empty verifyImages list', () => {
    const text = policy([]).replace('      verifyImages:\n', '      verifyImages: []\n');

    expect(problemsOf(text)).toEqual([
      `p.yaml:${lineOf(text, 'verifyImages: []')} spec.rules[0].verifyImages: must not be empty: a rule without entries checks no image`,
    ]);
  });

  test('count: 0 (Kyverno: minimum 1) and a count no set of entries can reach', () => {
    const zero = policy([
      [
        "imageReferences: ['*']",
        'failureAction: Enforce',
        'attestors:',
        '  - count: 0',
        '    entries:',
        ...keyEntry(6),
      ],
    ]);
    const tooMany = zero.replace('count: 0', 'count: 2');

    expect(problemsOf(zero)).toEqual([
      `p.yaml:${lineOf(zero, 'count: 0')} spec.rules[0].verifyImages[0].attestors[0].count: must be an integer >= 1, got number 0`,
    ]);
    expect(problemsOf(tooMany)).toEqual([
      `p.yaml:${lineOf(tooMany, 'count: 2')} spec.rules[0].verifyImages[0].attestors[0].count: is 2 but the set has only 1 attestors: it could never be satisfied`,
    ]);
  });

  test.each([
    ['keys without a key', ['- keys:', "    publicKeys: ''"], 'keys.publicKeys'],
    ['keyless with no identity', ['- keyless: {}'], 'keyless'],
    ['keyless whose identity is a lone *', ["- keyless: {subject: '*'}"], 'keyless'],
    ['certificates with neither cert nor certChain', ['- certificates: {}'], 'certificates'],
    ['an entry of no kind', ['- annotations: {env: prod}'], ''],
  ])('an attestor entry with no material: %s', (_name, entry, field) => {
    const text = policy([
      [
        "imageReferences: ['*']",
        'failureAction: Enforce',
        'attestors:',
        '  - entries:',
        ...entry.map((line) => `      ${line}`),
      ],
    ]);

    const paths = parsePolicyText(text, 'p.yaml').problems.map((problem) => problem.path);

    expect(paths).toEqual([
      `spec.rules[0].verifyImages[0].attestors[0].entries[0]${field ? `.${field}` : ''}`,
    ]);
  });

  test('keyless with a lone * subject but a real issuer still loads (it verifies the issuer)', () => {
    const text = policy([
      [
        "imageReferences: ['*']",
        'failureAction: Enforce',
        'attestors:',
        '  - entries:',
        "      - keyless: {subject: '*', issuer: 'https://token.actions.githubusercontent.com'}",
      ],
    ]);

    expect(problemsOf(text)).toEqual([]);
  });

  test('an entry with neither attestors nor attestations is still a Kyverno digest-only entry', () => {
    const text = policy([["imageReferences: ['*']", 'failureAction: Enforce']]);

    expect(problemsOf(text)).toEqual([]);
  });
});

describe("failure actions are decided per rule, as Kyverno's failureActionForRule", () => {
  const entry = (image: string, action?: string, mutateDigest = false): string[] => [
    `imageReferences: ['${image}']`,
    ...(action ? [`failureAction: ${action}`] : []),
    `mutateDigest: ${mutateDigest}`,
    'attestors:',
    '  - entries:',
    ...keyEntry(6),
  ];
  const entriesOf = (text: string) => {
    const { policies, problems } = parsePolicyText(text, 'p.yaml');
    expect(problems.map(formatProblem)).toEqual([]);
    return policies[0]?.rules[0]?.verifyImages ?? [];
  };
  const overrides = ['validationFailureActionOverrides:', '  - action: Enforce', '    namespaces: [prod]'];

  test('E-ovr2: the first action an entry sets (Audit) is the whole rule’s; spec overrides no longer count', () => {
    const entries = entriesOf(
      policy([entry('skipme*', 'Audit'), entry('web*')], ['validationFailureAction: Audit', ...overrides]),
    );

    expect(entries.map((item) => [item.failureAction, item.failureActionOverrides])).toEqual([
      ['Audit', []],
      ['Audit', []],
    ]);
  });

  test('E-ovr3: Enforce set by any entry wins for the whole rule', () => {
    const entries = entriesOf(
      policy(
        [entry('skipme*', 'Audit'), entry('skipme2*', 'Enforce'), entry('web*', undefined, true)],
        ['validationFailureAction: Audit'],
      ),
    );

    expect(entries.map((item) => item.failureAction)).toEqual(['Enforce', 'Enforce', 'Enforce']);
  });

  test('a rule whose entries set no action takes the policy action and its overrides', () => {
    const entries = entriesOf(policy([entry('web*')], ['validationFailureAction: Audit', ...overrides]));

    expect(entries.map((item) => [item.failureAction, item.failureActionOverrides])).toEqual([
      ['Audit', [{ action: 'Enforce', namespaces: [compileWildcard('prod')] }]],
    ]);
  });

  test("Audit with mutateDigest is refused in Kyverno's words, curly quotes included", () => {
    const text = policy([entry('web*', 'Audit', true)]);

    expect(AUDIT_MUTATE_DIGEST_MESSAGE).toBe('mutateDigest must be set to false for ‘Audit’ failure action');
    expect(problemsOf(text)).toEqual([
      `p.yaml:${lineOf(text, 'mutateDigest: true')} spec.rules[0].verifyImages[0].mutateDigest: ${AUDIT_MUTATE_DIGEST_MESSAGE}`,
    ]);
  });

  test('an entry without an action is validated against the last action an earlier entry set, as Kyverno does', () => {
    const text = policy(
      [entry('skipme*', 'Audit'), entry('web*', undefined, true)],
      ['validationFailureAction: Enforce'],
    );

    expect(problemsOf(text)).toEqual([
      `p.yaml:${lineOf(text, 'mutateDigest: true')} spec.rules[0].verifyImages[1].mutateDigest: ${AUDIT_MUTATE_DIGEST_MESSAGE}`,
    ]);
  });
});
