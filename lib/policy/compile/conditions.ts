/** Kyverno conditions: rule `preconditions`, attestation condition blocks, and their `{{ }}` variables. */
import { CONDITION_OPERATORS, invalidVariable, type Condition, type ConditionBlock } from '../conditions';
import type { FieldReader } from '../fields';
import { isNestedVariable, variablesInJson } from '../variable-syntax';
import { NOT_YET } from './unsupported';

/** `preconditions`: `{any, all}`, or Kyverno's legacy list form (every condition must hold). */
export function readPreconditions(reader: FieldReader): ConditionBlock | undefined {
  const value = reader.raw('preconditions');
  if (value === undefined || value === null) return undefined;
  if (Array.isArray(value)) {
    return { any: [], all: reader.list('preconditions').flatMap(readCondition) };
  }
  const block = reader.object('preconditions');
  return block ? readConditionBlock(block) : undefined;
}

/** One `{any, all}` block of Kyverno conditions. */
export function readConditionBlock(reader: FieldReader): ConditionBlock {
  const any = reader.list('any').flatMap(readCondition);
  const all = reader.list('all').flatMap(readCondition);
  reader.rejectUnknown();
  if (!reader.has('any') && !reader.has('all')) reader.problem(undefined, 'needs any or all');
  return { any, all };
}

/** A Kyverno condition: `key`, `operator`, `value`, `message`; its `{{ }}` variables must be valid JMESPath. */
function readCondition(reader: FieldReader): Condition[] {
  const key = reader.raw('key');
  if (key === undefined || key === null) reader.problem('key', 'is required');
  const operator = reader.string('operator', { required: true, allowed: CONDITION_OPERATORS });
  const value = reader.raw('value') ?? null;
  const message = reader.string('message');
  reader.rejectUnknown();
  const valid = checkVariables(reader, 'key', key) && checkVariables(reader, 'value', value);
  if (key === undefined || key === null || !operator || !valid) return [];
  return [{ key, operator, value, message }];
}

/**
 * Reports the first `{{ }}` variable of `value` that imagegate cannot evaluate: invalid JMESPath,
 * a function JMESPath does not define (Kyverno's own functions), or a nested variable.
 */
function checkVariables(reader: FieldReader, field: string, value: unknown): boolean {
  for (const { text } of variablesInJson(value)) {
    const problem = invalidVariable(JSON.parse(`"${text}"`) as string);
    if (!problem) continue;
    const unknownFunction = /Unknown function: ([\w]+)\(\)/.exec(problem);
    if (unknownFunction) {
      reader.problem(
        field,
        `is not supported: JMESPath function ${unknownFunction[1] ?? ''}() is not available (Kyverno's own functions are ${NOT_YET})`,
      );
    } else if (/'\{\{|"\{\{/.test(problem) || isNestedVariable(text)) {
      reader.problem(field, `is not supported: nested variables ({{ inside {{ }}) are ${NOT_YET}`);
    } else {
      reader.problem(field, problem);
    }
    return false;
  }
  return true;
}
