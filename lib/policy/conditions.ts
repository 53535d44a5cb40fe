import { JMESPathTypeError, search } from '@aws-lambda-powertools/jmespath';
import { describeError } from '../errors';
import { wildcardMatch } from '../model/wildcard';
import { replaceVariables, variablesInJson, wholeVariable } from './variable-syntax';

/** Kyverno condition operators (deprecated aliases included). */
export const CONDITION_OPERATORS = [
  'Equals',
  'NotEquals',
  'Equal',
  'NotEqual',
  'In',
  'NotIn',
  'AnyIn',
  'AllIn',
  'AnyNotIn',
  'AllNotIn',
  'GreaterThan',
  'GreaterThanOrEquals',
  'LessThan',
  'LessThanOrEquals',
] as const;
export type ConditionOperator = (typeof CONDITION_OPERATORS)[number];

/** One Kyverno condition: `key` and `value` may hold `{{ jmespath }}` variables. */
export interface Condition {
  readonly key: unknown;
  readonly operator: ConditionOperator;
  readonly value: unknown;
  readonly message: string | undefined;
}

/** `any`: at least one holds (when given); `all`: every one holds. */
export interface ConditionBlock {
  readonly any: readonly Condition[];
  readonly all: readonly Condition[];
}

/** The outcome; `failed` names the conditions that did not hold (their `message`, or a description). */
export interface ConditionResult {
  readonly passed: boolean;
  readonly failed: readonly string[];
}

/**
 * What a `{{ }}` variable that resolves to nothing (a missing field, `null`, or an expression
 * that cannot be evaluated on the data) becomes:
 * - `empty`: the empty string, as Kyverno substitutes in preconditions; a negative operator
 *   (`NotEquals`, `NotIn`, `AnyNotIn`, `AllNotIn`) then holds, so an absent exemption label never
 *   switches a rule off;
 * - `fail`: the condition does not hold, whatever its operator (attestation conditions: a
 *   statement without the field never satisfies a condition on it).
 */
export type UnresolvedVariables = 'empty' | 'fail';

/**
 * Evaluates Kyverno conditions against `context` (JSON data: the admission request, an
 * attestation predicate, …). `unresolved` says what a variable that resolves to nothing becomes
 * (default `fail`: its condition does not hold, negative operators included).
 */
export function evaluateConditions(
  block: ConditionBlock,
  context: unknown,
  unresolved: UnresolvedVariables = 'fail',
): ConditionResult {
  const test = (condition: Condition) => holds(condition, context, unresolved);
  const failedAll = block.all.filter((condition) => !test(condition));
  const anyHolds = block.any.length === 0 || block.any.some(test);
  const failed = [
    ...failedAll.map(describe),
    ...(anyHolds ? [] : [`none of: ${block.any.map(describe).join('; ')}`]),
  ];
  return { passed: failed.length === 0, failed };
}

/**
 * Replaces `{{ expression }}` with its JMESPath value; a lone variable keeps its JSON type. A
 * variable that resolves to nothing throws {@link UnresolvedVariable}, or with `unresolved:
 * 'empty'` becomes the empty string.
 */
export function substitute(
  value: unknown,
  context: unknown,
  unresolved: UnresolvedVariables = 'fail',
): unknown {
  const resolve = (expression: string) => lookup(expression, context, unresolved);
  if (typeof value === 'string') {
    const whole = wholeVariable(value);
    if (whole !== undefined) return resolve(whole);
    return replaceVariables(value, (expression) => {
      const resolved = resolve(expression);
      return typeof resolved === 'string' ? resolved : JSON.stringify(resolved);
    });
  }
  if (Array.isArray(value)) return value.map((item) => substitute(item, context, unresolved));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, substitute(item, context, unresolved)]),
    );
  }
  return value;
}

/** The first `{{ expression }}` in `value` that is not valid JMESPath, with the reason. */
export function invalidVariable(value: unknown): string | undefined {
  for (const { expression } of variablesInJson(value)) {
    try {
      search(JSON.parse(`"${expression}"`) as string, {});
    } catch (error) {
      // Evaluated against an empty document, a valid expression may still fail on argument types.
      if (error instanceof JMESPathTypeError) continue;
      return `invalid variable {{ ${expression} }}: ${describeError(error).split('\n')[0] ?? ''}`;
    }
  }
  return undefined;
}

/**
 * {@link evaluateConditions}, with a JMESPath evaluation error (a function given the wrong type,
 * say) making the conditions fail with its reason rather than failing the review.
 */
export function evaluateSafely(block: ConditionBlock, context: unknown): ConditionResult {
  try {
    return evaluateConditions(block, context);
  } catch (error) {
    return {
      passed: false,
      failed: [`a variable could not be evaluated: ${describeError(error).split('\n')[0] ?? ''}`],
    };
  }
}

/** A `{{ }}` variable that resolved to nothing, in `fail` mode. */
export class UnresolvedVariable extends Error {}

function lookup(expression: string, context: unknown, unresolved: UnresolvedVariables): unknown {
  let value: unknown;
  try {
    value = search(expression, context as Parameters<typeof search>[1]);
  } catch (error) {
    // Kyverno's precondition resolver turns any failed substitution into "" (not only a missing field).
    if (unresolved === 'empty') return '';
    throw error;
  }
  if (value !== null && value !== undefined) return value;
  if (unresolved === 'empty') return '';
  throw new UnresolvedVariable(expression);
}

function holds(condition: Condition, context: unknown, unresolved: UnresolvedVariables): boolean {
  let key: unknown;
  let value: unknown;
  try {
    key = substitute(condition.key, context, unresolved);
    value = substitute(condition.value, context, unresolved);
  } catch (error) {
    if (error instanceof UnresolvedVariable) return false;
    throw error;
  }
  const values = Array.isArray(value) ? value : [value];
  const keys = Array.isArray(key) ? key : [key];
  switch (condition.operator) {
    case 'Equals':
    case 'Equal':
      return equals(key, value);
    case 'NotEquals':
    case 'NotEqual':
      return !equals(key, value);
    case 'In':
    case 'AllIn':
      return keys.every((item) => values.some((candidate) => equals(item, candidate)));
    case 'AnyIn':
      return keys.some((item) => values.some((candidate) => equals(item, candidate)));
    case 'NotIn':
    case 'AllNotIn':
      return keys.every((item) => !values.some((candidate) => equals(item, candidate)));
    case 'AnyNotIn':
      return keys.some((item) => !values.some((candidate) => equals(item, candidate)));
    case 'GreaterThan':
      return compare(key, value, (a, b) => a > b);
    case 'GreaterThanOrEquals':
      return compare(key, value, (a, b) => a >= b);
    case 'LessThan':
      return compare(key, value, (a, b) => a < b);
    case 'LessThanOrEquals':
      return compare(key, value, (a, b) => a <= b);
  }
}

/** Kyverno's equality: strings compare with `*`/`?` wildcards in the value, the rest structurally. */
function equals(key: unknown, value: unknown): boolean {
  if (typeof key === 'string' && typeof value === 'string') return wildcardMatch(value, key);
  if (typeof key === 'number' && typeof value === 'string') return String(key) === value;
  if (typeof key === 'boolean' && typeof value === 'string') return String(key) === value;
  return JSON.stringify(key) === JSON.stringify(value);
}

function compare(key: unknown, value: unknown, test: (a: number, b: number) => boolean): boolean {
  // Number('') is 0: an empty (or substituted-empty) value is no number.
  const numeric = (item: unknown) =>
    typeof item === 'string' && item.trim() === '' ? NaN : item === null ? NaN : Number(item);
  const a = numeric(key);
  const b = numeric(value);
  return Number.isFinite(a) && Number.isFinite(b) && test(a, b);
}

function describe(condition: Condition): string {
  return (
    condition.message ??
    `${JSON.stringify(condition.key)} ${condition.operator} ${JSON.stringify(condition.value)}`
  );
}
