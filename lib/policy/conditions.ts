import { JMESPathTypeError, search } from '@aws-lambda-powertools/jmespath';
import { wildcardMatch } from './wildcard';

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

const VARIABLE = /\{\{\s*(.+?)\s*\}\}/g;
const WHOLE_VARIABLE = /^\{\{\s*((?:(?!\}\}).)+?)\s*\}\}$/s;

/**
 * Evaluates Kyverno conditions against `context` (JSON data: the admission request, an
 * attestation predicate, …). A variable that cannot be resolved makes its condition fail rather
 * than pass.
 */
export function evaluateConditions(block: ConditionBlock, context: unknown): ConditionResult {
  const failedAll = block.all.filter((condition) => !holds(condition, context));
  const anyHolds = block.any.length === 0 || block.any.some((condition) => holds(condition, context));
  const failed = [
    ...failedAll.map(describe),
    ...(anyHolds ? [] : [`none of: ${block.any.map(describe).join('; ')}`]),
  ];
  return { passed: failed.length === 0, failed };
}

/** Replaces `{{ expression }}` with its JMESPath value; a lone variable keeps its JSON type. */
export function substitute(value: unknown, context: unknown): unknown {
  if (typeof value === 'string') {
    const whole = WHOLE_VARIABLE.exec(value);
    if (whole) return lookup(whole[1] ?? '', context);
    return value.replace(VARIABLE, (_text, expression: string) => {
      const resolved = lookup(expression, context);
      return typeof resolved === 'string' ? resolved : JSON.stringify(resolved);
    });
  }
  if (Array.isArray(value)) return value.map((item) => substitute(item, context));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, substitute(item, context)]));
  }
  return value;
}

/** The first `{{ expression }}` in `value` that is not valid JMESPath, with the reason. */
export function invalidVariable(value: unknown): string | undefined {
  for (const [, expression = ''] of JSON.stringify(value ?? null).matchAll(VARIABLE)) {
    try {
      search(JSON.parse(`"${expression}"`) as string, {});
    } catch (error) {
      // Evaluated against an empty document, a valid expression may still fail on argument types.
      if (error instanceof JMESPathTypeError) continue;
      return `invalid variable {{ ${expression} }}: ${(error as Error).message.split('\n')[0] ?? ''}`;
    }
  }
  return undefined;
}

class UnresolvedVariable extends Error {}

function lookup(expression: string, context: unknown): unknown {
  const value = search(expression, context as Parameters<typeof search>[1]);
  if (value === null || value === undefined) throw new UnresolvedVariable(expression);
  return value;
}

function holds(condition: Condition, context: unknown): boolean {
  let key: unknown;
  let value: unknown;
  try {
    key = substitute(condition.key, context);
    value = substitute(condition.value, context);
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
  const a = Number(key);
  const b = Number(value);
  return Number.isFinite(a) && Number.isFinite(b) && test(a, b);
}

function describe(condition: Condition): string {
  return (
    condition.message ??
    `${JSON.stringify(condition.key)} ${condition.operator} ${JSON.stringify(condition.value)}`
  );
}
