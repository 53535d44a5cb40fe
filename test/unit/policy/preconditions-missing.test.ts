import {
  evaluateConditions,
  evaluateSafely,
  type Condition,
  type ConditionOperator,
} from '../../../lib/policy/conditions';
import { preconditionsHold } from '../../../lib/policy/variables';
import type { Rule } from '../../../lib/policy/types';
import { admissionRequest, pod } from '../../support/builders';

const LABEL = '{{ request.object.metadata.labels."sig-exempt" }}';
const ANNOTATION = '{{ request.object.metadata.annotations."imagegate.example/exempt" }}';

const condition = (key: unknown, operator: ConditionOperator, value: unknown): Condition => ({
  key,
  operator,
  value,
  message: undefined,
});

/** A rule whose only precondition is `condition`, over a Pod with the given labels and annotations. */
function holds(
  precondition: Condition,
  metadata: Record<string, unknown> = {},
  block: 'all' | 'any' = 'all',
): boolean {
  const rule = {
    name: 'r',
    imageExtractors: {},
    preconditions: { any: [], all: [], [block]: [precondition] },
  } as unknown as Rule;
  const request = admissionRequest({ name: 'web', object: pod('web', ['ghcr.io/acme/app:v1'], metadata) });
  return preconditionsHold(rule, request).passed;
}

describe('preconditions: a missing label or annotation never switches the rule off', () => {
  test.each<[ConditionOperator, string, unknown]>([
    ['NotEquals', LABEL, 'approved'],
    ['NotEqual', LABEL, 'approved'],
    ['NotIn', LABEL, ['approved', 'legacy']],
    ['AnyNotIn', ANNOTATION, ['approved']],
    ['AllNotIn', LABEL, ['approved']],
    ['AnyNotIn', LABEL, ['approved']],
    ['NotIn', ANNOTATION, ['approved']],
    ['AllNotIn', ANNOTATION, ['approved']],
    ['NotEquals', ANNOTATION, 'approved'],
  ])('%s on an absent field (%s): the rule applies', (operator, key, value) => {
    expect(holds(condition(key, operator, value))).toBe(true);
    expect(holds(condition(key, operator, value), {}, 'any')).toBe(true);
    // The metadata has labels and annotations, only not this one.
    expect(holds(condition(key, operator, value), { labels: { app: 'web' }, annotations: { a: 'b' } })).toBe(
      true,
    );
  });

  test('the exemption still exempts when the label says so', () => {
    const exempt = { labels: { 'sig-exempt': 'approved' } };
    expect(holds(condition(LABEL, 'NotEquals', 'approved'), exempt)).toBe(false);
    expect(holds(condition(LABEL, 'NotIn', ['approved']), exempt)).toBe(false);
    expect(holds(condition(LABEL, 'AllNotIn', ['approved']), exempt)).toBe(false);
    expect(holds(condition(LABEL, 'AnyNotIn', ['approved']), exempt)).toBe(false);
  });

  test('an absent field is the empty string: a positive condition on a value does not hold', () => {
    expect(holds(condition(LABEL, 'Equals', 'approved'))).toBe(false);
    expect(holds(condition(LABEL, 'In', ['approved']))).toBe(false);
    expect(holds(condition(LABEL, 'Equals', ''))).toBe(true);
    // Number('') would be 0; an empty value is no number.
    expect(holds(condition(LABEL, 'LessThan', 1))).toBe(false);
  });

  test('a variable that cannot be evaluated on the request is the empty string too, not a skip', () => {
    const typeError = condition(`{{ length(request.object.metadata.labels."sig-exempt") }}`, 'NotEquals', 3);
    expect(holds(typeError)).toBe(true);
  });

  test('a variable inside text resolves to empty text', () => {
    expect(holds(condition(`team-${LABEL}`, 'NotEquals', 'team-approved'))).toBe(true);
  });
});

describe('attestation conditions fail closed on a missing field', () => {
  const predicate = { builder: { id: 'https://ci.example.com' } };

  test.each<ConditionOperator>(['NotEquals', 'NotIn', 'AnyNotIn', 'AllNotIn'])(
    '%s on a field the statement does not have does not hold',
    (operator) => {
      const block = { any: [], all: [condition('{{ invocation.parameters.exempt }}', operator, ['yes'])] };
      expect(evaluateConditions(block, predicate).passed).toBe(false);
      expect(evaluateSafely(block, predicate).passed).toBe(false);
    },
  );
});
