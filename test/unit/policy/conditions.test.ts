import {
  evaluateConditions,
  invalidVariable,
  substitute,
  type Condition,
} from '../../../lib/policy/conditions';

const context = {
  request: { operation: 'CREATE', namespace: 'shop', userInfo: { groups: ['dev', 'ops'] } },
  image: { registry: 'ghcr.io', path: 'org/app', tag: 'v1.2' },
  builder: { id: 'https://github.com/org/app/.github/workflows/release.yml@refs/tags/v1.2' },
  score: 7,
};

const condition = (
  key: unknown,
  operator: Condition['operator'],
  value: unknown,
  message?: string,
): Condition => ({
  key,
  operator,
  value,
  message,
});

describe('substitute', () => {
  test('a lone variable keeps its JSON type; inside text it is interpolated', () => {
    expect(substitute('{{ request.userInfo.groups }}', context)).toEqual(['dev', 'ops']);
    expect(substitute('{{score}}', context)).toBe(7);
    expect(substitute('{{ image.registry }}/{{ image.path }}:{{ image.tag }}', context)).toBe(
      'ghcr.io/org/app:v1.2',
    );
  });

  test('an unresolvable variable is an error, not an empty string', () => {
    expect(() => substitute('{{ image.digest }}', context)).toThrow('image.digest');
  });
});

describe('evaluateConditions', () => {
  test.each<[string, Condition, boolean]>([
    [
      'Equals with a wildcard value',
      condition('{{ builder.id }}', 'Equals', 'https://github.com/org/*'),
      true,
    ],
    ['Equals that does not hold', condition('{{ image.registry }}', 'Equals', 'docker.io'), false],
    ['NotEquals', condition('{{ request.operation }}', 'NotEquals', 'DELETE'), true],
    ['AnyIn', condition('{{ request.userInfo.groups }}', 'AnyIn', ['ops', 'admin']), true],
    ['AllIn that does not hold', condition('{{ request.userInfo.groups }}', 'AllIn', ['ops']), false],
    ['AnyNotIn', condition('{{ request.userInfo.groups }}', 'AnyNotIn', ['ops']), true],
    ['AllNotIn', condition('{{ request.namespace }}', 'AllNotIn', ['kube-system', 'default']), true],
    ['GreaterThan', condition('{{ score }}', 'GreaterThan', 5), true],
    ['LessThanOrEquals that does not hold', condition('{{ score }}', 'LessThanOrEquals', '6'), false],
    ['a number compared with its string form', condition('{{ score }}', 'Equals', '7'), true],
    ['a missing variable fails the condition', condition('{{ nothing.here }}', 'NotEquals', 'x'), false],
  ])('%s', (_name, given, expected) => {
    expect(evaluateConditions({ any: [], all: [given] }, context).passed).toBe(expected);
  });

  test('all must hold and any needs one; failures are named by their message', () => {
    const result = evaluateConditions(
      {
        all: [
          condition('{{ image.registry }}', 'Equals', 'ghcr.io'),
          condition('{{ score }}', 'LessThan', 3, 'score too high'),
        ],
        any: [
          condition('{{ request.namespace }}', 'Equals', 'prod'),
          condition('{{ request.namespace }}', 'Equals', 'stage'),
        ],
      },
      context,
    );
    expect(result.passed).toBe(false);
    expect(result.failed).toEqual([
      'score too high',
      'none of: "{{ request.namespace }}" Equals "prod"; "{{ request.namespace }}" Equals "stage"',
    ]);
  });

  test('an empty block passes', () => {
    expect(evaluateConditions({ any: [], all: [] }, context)).toEqual({ passed: true, failed: [] });
  });
});

describe('invalidVariable', () => {
  test('names the first variable that is not JMESPath', () => {
    expect(invalidVariable({ key: '{{ request.operation }}', value: ['{{ a.[ }}'] })).toMatch(
      /^invalid variable \{\{ a\.\[ \}\}: /,
    );
    expect(invalidVariable({ key: '{{ request.operation }}', value: 'CREATE' })).toBeUndefined();
    // Valid, though it fails on the empty document it is checked against.
    expect(invalidVariable('{{ length(request.userInfo.groups) }}')).toBeUndefined();
  });
});
