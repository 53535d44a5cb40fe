/** Issue 12: why a rule does not apply is data (Pepr's `shouldSkipRequest`), for decision records. */
import { selectRules, selectRulesWithReasons } from '../../../lib/policy/match';
import { planChecks } from '../../../lib/review/plan';
import {
  controllerRequest,
  matchAny,
  podRequest,
  policyDocument,
  policySet,
  rule,
} from '../../support/builders';

const pods = matchAny({ kinds: ['Pod'] });
const set = policySet(
  policyDocument({
    name: 'cluster',
    rules: [
      rule('pods', pods),
      {
        ...rule('not-in-dev', pods),
        exclude: { any: [{ resources: { kinds: ['Pod'], namespaces: ['dev'] } }] },
      },
      rule('services', matchAny({ kinds: ['Service'] })),
      {
        ...rule('approved', pods),
        preconditions: {
          all: [
            {
              key: '{{ request.object.metadata.labels.approved }}',
              operator: 'Equals',
              value: 'yes',
              message: 'not approved',
            },
          ],
        },
      },
    ],
  }),
  policyDocument({ name: 'team-a', kind: 'Policy', namespace: 'team-a', rules: [rule('team', pods)] }),
);

const skips = (request: ReturnType<typeof podRequest>) =>
  selectRulesWithReasons(set, request).skipped.map((item) => [item.policy.name, item.rule.name, item.reason]);

describe('selectRulesWithReasons', () => {
  test('names the rules that apply and why each other one does not', () => {
    const request = podRequest('web', ['nginx'], { namespace: 'dev' });
    const { bindings } = selectRulesWithReasons(set, request);

    expect(bindings.map((binding) => binding.ruleName)).toEqual(['pods', 'approved']);
    expect(bindings).toEqual(selectRules(set, request));
    expect(skips(request)).toEqual([
      ['cluster', 'not-in-dev', 'excluded'],
      ['cluster', 'services', 'not-matched'],
      ['team-a', 'team', 'namespace'],
    ]);
  });

  test('a pod controller is excluded or matched through autogen', () => {
    const deployment = { ...controllerRequest('Deployment', 'web', ['nginx']), namespace: 'dev' };

    expect(selectRulesWithReasons(set, deployment).bindings.map((binding) => binding.ruleName)).toEqual([
      'autogen-pods',
      'autogen-approved',
    ]);
    expect(skips(deployment)).toEqual([
      ['cluster', 'not-in-dev', 'excluded'],
      ['cluster', 'services', 'not-matched'],
      ['team-a', 'team', 'namespace'],
    ]);
  });
});

describe('planChecks', () => {
  test('reports the rules skipped for their preconditions, with the conditions that failed', () => {
    const request = podRequest('web', ['ghcr.io/acme/app:v1']);
    const plan = planChecks(request, selectRules(set, request), set.version);

    expect(plan.checks.map((check) => check.binding.ruleName)).toEqual(['pods', 'not-in-dev']);
    expect(plan.unmetPreconditions.map(({ binding, failed }) => [binding.ruleName, failed])).toEqual([
      ['approved', ['not approved']],
    ]);
  });
});
