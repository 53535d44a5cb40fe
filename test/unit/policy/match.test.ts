import type { AdmissionRequest } from '../../../lib/model/admission';
import {
  compileKindPattern,
  kindPatternMatches,
  selectorMatches,
  selectRules,
} from '../../../lib/policy/match';
import { anyMatches, compileWildcard, wildcardMatch } from '../../../lib/model/wildcard';
import {
  admissionRequest,
  controllerRequest,
  matchAny,
  pod,
  podRequest,
  policyDocument,
  policySet,
  rule,
} from '../../support/builders';

type Json = Record<string, unknown>;

/** Rule names that apply to `request` for one ClusterPolicy `p` with the given rules. */
function applicable(
  request: AdmissionRequest,
  rules: readonly Json[],
  options: { annotations?: Record<string, string> } = {},
) {
  const set = policySet(policyDocument({ name: 'p', rules, ...options }));
  return selectRules(set, request).map((binding) => binding.ruleName);
}

const POD = { group: '', version: 'v1', kind: 'Pod', subResource: undefined };
const DEPLOYMENT = { group: 'apps', version: 'v1', kind: 'Deployment', subResource: undefined };

describe('kindPatternMatches', () => {
  test.each([
    ['Pod', POD, true],
    ['v1/Pod', POD, true],
    ['v2/Pod', POD, false],
    ['Deployment', DEPLOYMENT, true],
    ['apps/v1/Deployment', DEPLOYMENT, true],
    ['apps/*/Deployment', DEPLOYMENT, true],
    ['batch/v1/Deployment', DEPLOYMENT, false],
    ['v1/Deployment', DEPLOYMENT, true],
    ['*', POD, true],
    ['*', DEPLOYMENT, true],
    ['Dep*', DEPLOYMENT, true],
    ['Dep*', POD, false],
    ['Po?', POD, true],
    ['pod', POD, false],
  ])('%s vs %j -> %s', (pattern, target, expected) => {
    expect(kindPatternMatches(compileKindPattern(pattern), target)).toBe(expected);
  });

  test('Pod/ephemeralcontainers matches only the ephemeralcontainers subresource', () => {
    const ephemeral = { ...POD, subResource: 'ephemeralcontainers' };

    expect(kindPatternMatches(compileKindPattern('Pod/ephemeralcontainers'), ephemeral)).toBe(true);
    expect(kindPatternMatches(compileKindPattern('v1/Pod/ephemeralcontainers'), ephemeral)).toBe(false);
    expect(kindPatternMatches(compileKindPattern('*/v1/Pod/ephemeralcontainers'), ephemeral)).toBe(true);
    expect(kindPatternMatches(compileKindPattern('Pod/ephemeralcontainers'), POD)).toBe(false);
    expect(
      kindPatternMatches(compileKindPattern('Pod/ephemeralcontainers'), { ...POD, subResource: 'status' }),
    ).toBe(false);
    expect(kindPatternMatches(compileKindPattern('Pod/*'), { ...POD, subResource: 'status' })).toBe(true);
  });

  test('a plain kind does not match other subresource requests (pods/status, deployments/scale)', () => {
    expect(kindPatternMatches(compileKindPattern('Pod'), { ...POD, subResource: 'status' })).toBe(false);
    expect(
      kindPatternMatches(compileKindPattern('Deployment'), { ...DEPLOYMENT, subResource: 'scale' }),
    ).toBe(false);
  });

  test('a plain Pod also matches pods/ephemeralcontainers, as in Kyverno (kubectl debug images are checked)', () => {
    expect(
      kindPatternMatches(compileKindPattern('Pod'), { ...POD, subResource: 'ephemeralcontainers' }),
    ).toBe(true);
    expect(
      kindPatternMatches(compileKindPattern('Deployment'), {
        ...DEPLOYMENT,
        subResource: 'ephemeralcontainers',
      }),
    ).toBe(false);
  });
});

describe('wildcardMatch', () => {
  test.each([
    ['ghcr.io/kyverno/*', 'ghcr.io/kyverno/test-verify-image:signed', true],
    ['ghcr.io/*', 'ghcr.io/a/b/c:d', true], // `*` crosses `/`
    ['ghcr.io/kyverno/test-verify-image:?igned', 'ghcr.io/kyverno/test-verify-image:signed', true],
    ['ghcr.io/kyverno/test-verify-image:?', 'ghcr.io/kyverno/test-verify-image:signed', false],
    ['docker.io/nginx:*', 'docker.io/nginx:latest', true],
    ['nginx', 'docker.io/nginx:latest', false], // whole value must match
    ['ghcr.io/a.b', 'ghcr.io/aXb', false], // `.` is literal
    ['a+b(c)', 'a+b(c)', true],
    ['*', '', true],
  ])('%s vs %s -> %s', (pattern, value, expected) => {
    expect(wildcardMatch(pattern, value)).toBe(expected);
  });

  test('anyMatches is true when one compiled pattern matches', () => {
    const patterns = ['a*', 'b*'].map(compileWildcard);
    expect(anyMatches(patterns, 'bee')).toBe(true);
    expect(anyMatches(patterns, 'cee')).toBe(false);
    expect(anyMatches([], 'anything')).toBe(false);
  });
});

describe('selectorMatches', () => {
  const labels = { app: 'web', tier: 'frontend' };

  test.each([
    [{ matchLabels: { app: 'web' }, matchExpressions: [] }, true],
    [{ matchLabels: { app: 'api' }, matchExpressions: [] }, false],
    [{ matchLabels: { app: 'web', tier: 'backend' }, matchExpressions: [] }, false],
    [
      { matchLabels: {}, matchExpressions: [{ key: 'tier', operator: 'In', values: ['frontend', 'edge'] }] },
      true,
    ],
    [{ matchLabels: {}, matchExpressions: [{ key: 'tier', operator: 'In', values: ['backend'] }] }, false],
    [{ matchLabels: {}, matchExpressions: [{ key: 'missing', operator: 'In', values: [''] }] }, false],
    [{ matchLabels: {}, matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['backend'] }] }, true],
    [{ matchLabels: {}, matchExpressions: [{ key: 'missing', operator: 'NotIn', values: ['x'] }] }, true],
    [{ matchLabels: {}, matchExpressions: [{ key: 'app', operator: 'Exists', values: [] }] }, true],
    [{ matchLabels: {}, matchExpressions: [{ key: 'missing', operator: 'Exists', values: [] }] }, false],
    [{ matchLabels: {}, matchExpressions: [{ key: 'missing', operator: 'DoesNotExist', values: [] }] }, true],
    [{ matchLabels: {}, matchExpressions: [{ key: 'app', operator: 'DoesNotExist', values: [] }] }, false],
  ] as const)('%j -> %s', (selector, expected) => {
    expect(selectorMatches(selector, labels)).toBe(expected);
  });

  test('an empty selector matches everything', () => {
    expect(selectorMatches({ matchLabels: {}, matchExpressions: [] }, {})).toBe(true);
  });
});

describe('selectRules', () => {
  describe('kinds', () => {
    test.each([
      [['Pod'], true],
      [['v1/Pod'], true],
      [['Deployment'], false],
      [['*'], true],
      [['Deployment', 'Pod'], true],
    ])('kinds %j on a Pod CREATE -> %s', (kinds, expected) => {
      expect(applicable(podRequest('app', ['nginx']), [rule('r', matchAny({ kinds }))])).toEqual(
        expected ? ['r'] : [],
      );
    });

    test('apps/v1/Deployment matches a Deployment directly, under the rule name', () => {
      const request = controllerRequest('Deployment', 'web', ['nginx']);

      expect(applicable(request, [rule('r', matchAny({ kinds: ['apps/v1/Deployment'] }))])).toEqual(['r']);
    });

    test('on a pods/ephemeralcontainers request, Pod and Pod/ephemeralcontainers apply but Pod/status does not', () => {
      const request = podRequest('app', ['nginx'], {
        operation: 'UPDATE',
        subResource: 'ephemeralcontainers',
      });

      expect(
        applicable(request, [
          rule('plain', matchAny({ kinds: ['Pod'] })),
          rule('ephemeral', matchAny({ kinds: ['Pod/ephemeralcontainers'] })),
          rule('status', matchAny({ kinds: ['Pod/status'] })),
        ]),
      ).toEqual(['plain', 'ephemeral']);
    });

    test('on a plain Pod CREATE, Pod/ephemeralcontainers does not apply', () => {
      expect(
        applicable(podRequest('app', ['nginx']), [
          rule('r', matchAny({ kinds: ['Pod/ephemeralcontainers'] })),
        ]),
      ).toEqual([]);
    });
  });

  describe('names, namespaces, operations, annotations, selector', () => {
    test('names with wildcards', () => {
      const rules = [rule('r', matchAny({ kinds: ['Pod'], names: ['web-*', 'api-?'] }))];

      expect(applicable(podRequest('web-1', ['nginx']), rules)).toEqual(['r']);
      expect(applicable(podRequest('api-2', ['nginx']), rules)).toEqual(['r']);
      expect(applicable(podRequest('api-22', ['nginx']), rules)).toEqual([]);
      expect(applicable(podRequest('db', ['nginx']), rules)).toEqual([]);
    });

    test('the legacy single name field', () => {
      const rules = [rule('r', { resources: { kinds: ['Pod'], name: 'web-*' } })];

      expect(applicable(podRequest('web-1', ['nginx']), rules)).toEqual(['r']);
      expect(applicable(podRequest('db', ['nginx']), rules)).toEqual([]);
    });

    test('names are matched against the request name', () => {
      const request = admissionRequest({ name: 'web-1', object: pod('other', ['nginx']) });

      expect(applicable(request, [rule('r', matchAny({ kinds: ['Pod'], names: ['web-*'] }))])).toEqual(['r']);
    });

    test('namespaces with wildcards', () => {
      const rules = [rule('r', matchAny({ kinds: ['Pod'], namespaces: ['prod-*', 'default'] }))];

      expect(applicable(podRequest('a', ['nginx'], { namespace: 'prod-eu' }), rules)).toEqual(['r']);
      expect(applicable(podRequest('a', ['nginx'], { namespace: 'default' }), rules)).toEqual(['r']);
      expect(applicable(podRequest('a', ['nginx'], { namespace: 'dev' }), rules)).toEqual([]);
    });

    test('operations', () => {
      const rules = [rule('r', matchAny({ kinds: ['Pod'], operations: ['CREATE'] }))];

      expect(applicable(podRequest('a', ['nginx']), rules)).toEqual(['r']);
      expect(applicable(podRequest('a', ['nginx'], { operation: 'UPDATE' }), rules)).toEqual([]);
    });

    test('annotations must all be present, values with wildcards', () => {
      const rules = [rule('r', matchAny({ kinds: ['Pod'], annotations: { team: 'pay*', verify: 'yes' } }))];
      const annotated = (annotations: Record<string, string>) =>
        admissionRequest({ object: pod('a', ['nginx'], { annotations }) });

      expect(applicable(annotated({ team: 'payments', verify: 'yes' }), rules)).toEqual(['r']);
      expect(applicable(annotated({ team: 'payments' }), rules)).toEqual([]);
      expect(applicable(annotated({ team: 'search', verify: 'yes' }), rules)).toEqual([]);
    });

    test('selector matchLabels and matchExpressions on the object labels', () => {
      const rules = [
        rule(
          'r',
          matchAny({
            kinds: ['Pod'],
            selector: {
              matchLabels: { app: 'web' },
              matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['test'] }],
            },
          }),
        ),
      ];
      const labelled = (labels: Record<string, string>) =>
        admissionRequest({ object: pod('a', ['nginx'], { labels }) });

      expect(applicable(labelled({ app: 'web' }), rules)).toEqual(['r']);
      expect(applicable(labelled({ app: 'web', tier: 'prod' }), rules)).toEqual(['r']);
      expect(applicable(labelled({ app: 'web', tier: 'test' }), rules)).toEqual([]);
      expect(applicable(labelled({ app: 'api' }), rules)).toEqual([]);
    });

    test('on DELETE the old object labels are used', () => {
      const rules = [rule('r', matchAny({ kinds: ['Pod'], selector: { matchLabels: { app: 'web' } } }))];
      const request = admissionRequest({
        operation: 'DELETE',
        object: undefined,
        oldObject: pod('a', ['nginx'], { labels: { app: 'web' } }),
      });

      expect(applicable(request, rules)).toEqual(['r']);
    });
  });

  describe('subjects', () => {
    test('User, Group and ServiceAccount subjects match the request userInfo', () => {
      const rules = [
        rule('user', {
          any: [{ subjects: [{ kind: 'User', name: 'alice*' }], resources: { kinds: ['Pod'] } }],
        }),
        rule('group', {
          any: [{ subjects: [{ kind: 'Group', name: 'devs' }], resources: { kinds: ['Pod'] } }],
        }),
        rule('sa', {
          any: [
            {
              subjects: [{ kind: 'ServiceAccount', name: 'ci', namespace: 'build' }],
              resources: { kinds: ['Pod'] },
            },
          ],
        }),
      ];
      const by = (username: string, groups: string[] = []) =>
        applicable(podRequest('a', ['nginx'], { userInfo: { username, groups } }), rules);

      expect(by('alice@example.com')).toEqual(['user']);
      expect(by('bob', ['devs'])).toEqual(['group']);
      expect(by('system:serviceaccount:build:ci')).toEqual(['sa']);
      expect(by('system:serviceaccount:other:ci')).toEqual([]);
    });
  });

  describe('any / all / exclude', () => {
    test('any: one entry is enough', () => {
      const rules = [
        rule('r', matchAny({ kinds: ['Pod'], namespaces: ['a'] }, { kinds: ['Pod'], namespaces: ['b'] })),
      ];

      expect(applicable(podRequest('x', ['nginx'], { namespace: 'a' }), rules)).toEqual(['r']);
      expect(applicable(podRequest('x', ['nginx'], { namespace: 'b' }), rules)).toEqual(['r']);
      expect(applicable(podRequest('x', ['nginx'], { namespace: 'c' }), rules)).toEqual([]);
    });

    test('all: every entry must hold', () => {
      const rules = [
        rule('r', {
          all: [{ resources: { kinds: ['Pod'] } }, { resources: { kinds: ['Pod'], names: ['web-*'] } }],
        }),
      ];

      expect(applicable(podRequest('web-1', ['nginx']), rules)).toEqual(['r']);
      expect(applicable(podRequest('db', ['nginx']), rules)).toEqual([]);
    });

    test('any and all together: all of all and one of any', () => {
      const rules = [
        rule('r', {
          any: [
            { resources: { kinds: ['Pod'], namespaces: ['a'] } },
            { resources: { kinds: ['Pod'], namespaces: ['b'] } },
          ],
          all: [{ resources: { kinds: ['Pod'], names: ['web-*'] } }],
        }),
      ];

      expect(applicable(podRequest('web-1', ['nginx'], { namespace: 'b' }), rules)).toEqual(['r']);
      expect(applicable(podRequest('db', ['nginx'], { namespace: 'b' }), rules)).toEqual([]);
      expect(applicable(podRequest('web-1', ['nginx'], { namespace: 'c' }), rules)).toEqual([]);
    });

    test('exclude removes matching requests', () => {
      const rules = [
        {
          ...rule('r', matchAny({ kinds: ['Pod'] })),
          exclude: { any: [{ resources: { namespaces: ['kube-system'], kinds: ['Pod'] } }] },
        },
      ];

      expect(applicable(podRequest('x', ['nginx']), rules)).toEqual(['r']);
      expect(applicable(podRequest('x', ['nginx'], { namespace: 'kube-system' }), rules)).toEqual([]);
    });

    test('exclude also removes the autogen rule for controllers', () => {
      const rules = [
        {
          ...rule('r', matchAny({ kinds: ['Pod'] })),
          exclude: { any: [{ resources: { namespaces: ['kube-system'], kinds: ['Pod'] } }] },
        },
      ];
      const system = { ...controllerRequest('Deployment', 'web', ['nginx']), namespace: 'kube-system' };

      expect(applicable(controllerRequest('Deployment', 'web', ['nginx']), rules)).toEqual(['autogen-r']);
      expect(applicable(system, rules)).toEqual([]);
    });
  });

  describe('namespaced Policy', () => {
    test('applies only to requests in its own namespace', () => {
      const set = policySet(
        policyDocument({
          name: 'team',
          kind: 'Policy',
          namespace: 'team-a',
          rules: [rule('r', matchAny({ kinds: ['Pod'] }))],
        }),
      );

      expect(selectRules(set, podRequest('x', ['nginx'], { namespace: 'team-a' }))).toHaveLength(1);
      expect(selectRules(set, podRequest('x', ['nginx'], { namespace: 'team-b' }))).toHaveLength(0);
      expect(selectRules(set, podRequest('x', ['nginx'], { namespace: undefined }))).toHaveLength(0);
    });
  });

  describe('autogen', () => {
    const podRule = [rule('check-image', matchAny({ kinds: ['Pod'] }))];

    test.each(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'ReplicationController', 'Job'])(
      'a Pod rule applies to a %s as autogen-<rule>',
      (kind) => {
        expect(applicable(controllerRequest(kind, 'web', ['nginx']), podRule)).toEqual([
          'autogen-check-image',
        ]);
      },
    );

    test('a Pod rule applies to a CronJob as autogen-cronjob-<rule>', () => {
      expect(applicable(controllerRequest('CronJob', 'nightly', ['nginx']), podRule)).toEqual([
        'autogen-cronjob-check-image',
      ]);
    });

    test('the Pod itself keeps the plain rule name', () => {
      expect(applicable(podRequest('web', ['nginx']), podRule)).toEqual(['check-image']);
    });

    test('autogen-controllers: none disables it', () => {
      const options = { annotations: { 'pod-policies.kyverno.io/autogen-controllers': 'none' } };

      expect(applicable(controllerRequest('Deployment', 'web', ['nginx']), podRule, options)).toEqual([]);
      expect(applicable(podRequest('web', ['nginx']), podRule, options)).toEqual(['check-image']);
    });

    test('autogen-controllers lists the controllers it covers', () => {
      const options = {
        annotations: { 'pod-policies.kyverno.io/autogen-controllers': 'Deployment,CronJob' },
      };

      expect(applicable(controllerRequest('Deployment', 'web', ['nginx']), podRule, options)).toEqual([
        'autogen-check-image',
      ]);
      expect(applicable(controllerRequest('CronJob', 'web', ['nginx']), podRule, options)).toEqual([
        'autogen-cronjob-check-image',
      ]);
      expect(applicable(controllerRequest('StatefulSet', 'web', ['nginx']), podRule, options)).toEqual([]);
    });

    test('a rule on other kinds does not autogen', () => {
      const serviceRule = [rule('r', matchAny({ kinds: ['Service'] }))];

      expect(applicable(controllerRequest('Deployment', 'web', ['nginx']), serviceRule)).toEqual([]);
    });

    test('unrelated kinds are never matched through autogen', () => {
      const request = admissionRequest({
        kind: { group: '', version: 'v1', kind: 'ConfigMap' },
        object: { data: {} },
      });

      expect(applicable(request, podRule)).toEqual([]);
    });
  });

  test('bindings come in policy order, then rule order', () => {
    const set = policySet(
      policyDocument({
        name: 'b',
        rules: [rule('b2', matchAny({ kinds: ['Pod'] })), rule('b1', matchAny({ kinds: ['Pod'] }))],
      }),
      policyDocument({ name: 'a', rules: [rule('a1', matchAny({ kinds: ['Pod'] }))] }),
    );

    expect(
      selectRules(set, podRequest('x', ['nginx'])).map(
        (binding) => `${binding.policy.name}.${binding.ruleName}`,
      ),
    ).toEqual(['b.b2', 'b.b1', 'a.a1']);
  });
});
