/**
 * Kyverno's `{{ expression }}` variable syntax, recognised here and nowhere else: the compiler
 * (which fields may hold variables, which variables conditions read) and the condition evaluator
 * (substitution) both use these functions.
 */

/** One variable: `{{`, optional blanks, the expression (on one line), optional blanks, `}}`. */
const VARIABLE = /\{\{\s*(.+?)\s*\}\}/g;
/** A string that is nothing but one variable (its value then keeps its JSON type). */
const WHOLE_VARIABLE = /^\{\{\s*((?:(?!\}\}).)+?)\s*\}\}$/s;
/** Any `{{` … `}}`, across lines: a field that must hold literal text (a PEM) holds a variable. */
const ANY_VARIABLE = /\{\{.*\}\}/s;
/** `{{` again before the variable closes: a nested variable. */
const NESTED_VARIABLE = /\{\{[^}]*\{\{/;

/** One variable found in the JSON text of a value. */
export interface VariableText {
  /** The whole variable as it appears in the JSON text, braces included (JSON-escaped). */
  readonly text: string;
  /** The expression between the braces, trimmed, as it appears in the JSON text (JSON-escaped). */
  readonly expression: string;
}

/**
 * Every variable of `value` (any JSON data: a string, a condition, a list of condition blocks),
 * found in its JSON text so that keys and nested values count too.
 */
export function variablesInJson(value: unknown): VariableText[] {
  return [...JSON.stringify(value ?? null).matchAll(VARIABLE)].map((match) => ({
    text: match[0],
    expression: match[1] ?? '',
  }));
}

/** The expression of a string that is exactly one variable, else `undefined`. */
export function wholeVariable(text: string): string | undefined {
  return WHOLE_VARIABLE.exec(text)?.[1];
}

/** `text` with each variable replaced by `replace(expression)`. */
export function replaceVariables(text: string, replace: (expression: string) => string): string {
  return text.replace(VARIABLE, (_variable, expression: string) => replace(expression));
}

/** Whether `text` holds anything that looks like a variable (literal fields refuse it). */
export function containsVariable(text: string): boolean {
  return ANY_VARIABLE.test(text);
}

/** Whether a variable's text opens another variable inside it. */
export function isNestedVariable(text: string): boolean {
  return NESTED_VARIABLE.test(text);
}

/** Which of Kyverno's request-derived variables some conditions read (part of a verdict's cache key). */
export interface ConditionReads {
  /** `image`: the image reference being verified (its tag, for one). */
  readonly image: boolean;
  /** `request`: the admission request. */
  readonly request: boolean;
  /** `images`: every image of the resource. */
  readonly images: boolean;
}

/** What the variables of `value` read, decided once when a policy is compiled. */
export function conditionReads(value: unknown): ConditionReads {
  const expressions = variablesInJson(value).map((variable) => variable.expression);
  const reads = (name: string) =>
    expressions.some((expression) => new RegExp(`\\b${name}\\b`).test(expression));
  return { image: reads('image'), request: reads('request'), images: reads('images') };
}
