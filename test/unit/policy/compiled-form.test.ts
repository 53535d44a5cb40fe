/**
 * Issue 12: policies are compiled once. The compiled form holds glob matchers, parsed signature
 * locations and what attestation conditions read; matching and planning use them as they are.
 */
import {
  KYVERNO_SAMPLE_KEY,
  podRequest,
  policyDocument,
  policySet,
  rule,
  verifyImagesEntry,
} from '../../support/builders';
import { WildcardMatcher } from '../../../lib/model/wildcard';
import { selectRules } from '../../../lib/policy/match';
import type { ResourceDescription } from '../../../lib/policy/types';
import { conditionInputs, locationFor, planChecks } from '../../../lib/review/plan';
import { leafAttestors } from '../../../lib/verify/attestor-sets';

const condition = (key: string) => ({ all: [{ key, operator: 'Equals', value: '*' }] });
const attestation = (name: string, keys: readonly string[]) => ({
  name,
  type: 'https://slsa.dev/provenance/v0.2',
  attestors: [{ entries: [{ keys: { publicKeys: KYVERNO_SAMPLE_KEY } }] }],
  conditions: keys.map(condition),
});

const set = policySet(
  policyDocument({
    name: 'compiled',
    rules: [
      rule(
        'check',
        {
          any: [
            {
              resources: {
                kinds: ['Pod', 'apps/v1/Deployment'],
                names: ['web*'],
                namespaces: ['def?ult'],
                annotations: { team: 'pay*' },
              },
              subjects: [
                { kind: 'User', name: 'kubernetes-*' },
                { kind: 'ServiceAccount', name: 'deployer', namespace: 'ci' },
              ],
            },
          ],
        },
        [
          verifyImagesEntry(['ghcr.io/acme/*', 'GHCR.IO:443/other/*'], KYVERNO_SAMPLE_KEY, {
            skipImageReferences: ['ghcr.io/acme/skip*'],
            repository: 'registry.example:5000/signatures/acme',
            attestors: [
              {
                entries: [
                  { keys: { publicKeys: KYVERNO_SAMPLE_KEY } },
                  { repository: 'quay.io/acme/sigs', keys: { publicKeys: KYVERNO_SAMPLE_KEY } },
                ],
              },
            ],
            attestations: [
              attestation('tag', ['{{ image.tag }}']),
              attestation('creator', ['{{ request.userInfo.username }}']),
              attestation('neighbours', ['{{ images.containers.*.registry }}']),
              attestation('predicate', ['{{ builder.id }}', '{{ imageTag }}']),
            ],
          }),
        ],
      ),
    ],
  }),
);
const policy = set.policies[0]!;
const entry = policy.rules[0]!.verifyImages[0]!;
const description = policy.rules[0]!.match.any[0]!;
const request = podRequest('web-1', ['ghcr.io/acme/app:v1', 'ghcr.io/acme/skip-me:v1'], {
  object: {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web-1', namespace: 'default', annotations: { team: 'payments' } },
    spec: {
      containers: [
        { name: 'app', image: 'ghcr.io/acme/app:v1' },
        { name: 'skip', image: 'ghcr.io/acme/skip-me:v1' },
      ],
    },
  },
});

/** Every wildcard matcher a resource description holds. */
function descriptionMatchers(item: ResourceDescription): WildcardMatcher[] {
  return [
    ...item.kinds.flatMap((kind) => [
      kind.group,
      kind.version,
      kind.kind,
      ...(kind.subResource ? [kind.subResource] : []),
    ]),
    ...item.names,
    ...item.namespaces,
    ...Object.values(item.annotations),
    ...item.subjects.map((subject) => subject.matcher),
  ];
}

describe('globs are compiled when the policy is loaded', () => {
  test('match patterns and image patterns are compiled matchers', () => {
    expect(description.kinds.map((kind) => kind.pattern)).toEqual(['Pod', 'apps/v1/Deployment']);
    expect(description.names.map((name) => name.pattern)).toEqual(['web*']);
    expect(description.namespaces.map((namespace) => namespace.pattern)).toEqual(['def?ult']);
    expect(description.annotations.team?.pattern).toBe('pay*');
    expect(description.subjects.map((subject) => subject.matcher.pattern)).toEqual([
      'kubernetes-*',
      'system:serviceaccount:ci:deployer',
    ]);
    for (const matcher of descriptionMatchers(description)) expect(matcher).toBeInstanceOf(WildcardMatcher);
    // The written pattern and its canonical registry form, each compiled once.
    expect(entry.imageReferences.map((pattern) => pattern.forms.map((form) => form.pattern))).toEqual([
      ['ghcr.io/acme/*'],
      ['GHCR.IO:443/other/*', 'ghcr.io/other/*'],
    ]);
    for (const pattern of [...entry.imageReferences, ...entry.skipImageReferences]) {
      for (const form of pattern.forms) expect(form).toBeInstanceOf(WildcardMatcher);
    }
  });

  test('matching and planning only use the matchers the compiled policy holds', () => {
    const held = new Set<WildcardMatcher>([
      ...descriptionMatchers(description),
      ...[...entry.imageReferences, ...entry.skipImageReferences].flatMap((pattern) => pattern.forms),
    ]);
    const matches = jest.spyOn(WildcardMatcher.prototype, 'matches');
    try {
      const bindings = selectRules(set, request);
      const { checks } = planChecks(request, bindings, set.version);

      expect(bindings.map((binding) => binding.ruleName)).toEqual(['check']);
      expect(checks.map((check) => [check.site.image, check.skipped])).toEqual([
        ['ghcr.io/acme/app:v1', false],
        ['ghcr.io/acme/skip-me:v1', true],
      ]);
      const used = matches.mock.contexts as WildcardMatcher[];
      expect(used.length).toBeGreaterThan(0);
      expect(used.filter((matcher) => !held.has(matcher))).toEqual([]);
    } finally {
      matches.mockRestore();
    }
  });
});

describe('signature repositories are parsed when the policy is loaded', () => {
  test('the entry and each attestor with a repository hold its location', () => {
    expect(entry.signatureLocation).toEqual({
      registry: 'registry.example:5000',
      repository: 'signatures/acme',
    });
    expect(leafAttestors(entry.attestorSets).map((attestor) => attestor.signatureLocation)).toEqual([
      undefined,
      { registry: 'quay.io', repository: 'acme/sigs' },
    ]);
  });

  test('a check reads the compiled locations as they are', () => {
    const [check] = planChecks(request, selectRules(set, request), set.version).checks;
    const [own, other] = leafAttestors(entry.attestorSets);

    expect(locationFor(check!, own!)).toBe(entry.signatureLocation);
    expect(locationFor(check!, other!)).toBe(other!.signatureLocation);
  });
});

describe('what attestation conditions read is known when the policy is loaded', () => {
  test('image, request and images, each detected as a whole variable name', () => {
    expect(entry.attestations.map((item) => [item.name, item.reads])).toEqual([
      ['tag', { image: true, request: false, images: false }],
      ['creator', { image: false, request: true, images: false }],
      ['neighbours', { image: false, request: false, images: true }],
      ['predicate', { image: false, request: false, images: false }],
    ]);
  });

  test("a verdict's inputs come from the compiled reads, not from the conditions at review time", () => {
    const [check] = planChecks(request, selectRules(set, request), set.version).checks;
    const inputs = conditionInputs(check!);
    expect(inputs).toMatch(/^\|image=ghcr\.io\/acme\/app:v1\|request=[0-9a-f]{64}$/);

    const readsNothing = { image: false, request: false, images: false };
    const compiledOnly = {
      ...check!,
      entry: { ...entry, attestations: entry.attestations.map((item) => ({ ...item, reads: readsNothing })) },
    };
    expect(conditionInputs(compiledOnly)).toBe('');
  });
});
