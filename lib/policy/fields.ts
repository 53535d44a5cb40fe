import type { TrustRoots } from '../verify/trust-roots';
import type { PolicyProblem } from './problems';

export type PathSegment = string | number;

/**
 * Everything one document is compiled with, passed to every reader (no module state): where
 * problems go, how to find a field's line, and the trust roots a policy's log URLs must name.
 */
export interface CompileContext {
  readonly source: string;
  readonly problems: PolicyProblem[];
  readonly lineOf: (path: readonly PathSegment[]) => number | undefined;
  /** The trust roots the webhook runs with: a `rekor.url` must name one of their logs. */
  readonly trust: TrustRoots;
}

/** Dotted form of a path: `spec.rules[0].name`. */
export function formatPath(path: readonly PathSegment[]): string {
  return path.reduce<string>(
    (text, segment) =>
      typeof segment === 'number' ? `${text}[${segment}]` : text ? `${text}.${segment}` : segment,
    '',
  );
}

/**
 * Typed, path-aware access to one mapping of a policy document. Every field read is remembered
 * so that {@link FieldReader.rejectUnknown} can report the ones nobody read: nothing in a
 * policy is silently ignored.
 */
export class FieldReader {
  private readonly read = new Set<string>();

  constructor(
    private readonly value: Readonly<Record<string, unknown>>,
    readonly path: readonly PathSegment[],
    readonly context: CompileContext,
  ) {}

  /** A reader for `value` at `path`, or `undefined` (with a problem) when it is not a mapping. */
  static of(value: unknown, path: readonly PathSegment[], context: CompileContext): FieldReader | undefined {
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      return new FieldReader(value as Record<string, unknown>, path, context);
    }
    report(context, path, `must be a mapping, got ${describe(value)}`);
    return undefined;
  }

  /** Every field name of this mapping, all marked as read. */
  keys(): string[] {
    const names = Object.keys(this.value);
    this.accept(...names);
    return names;
  }

  has(name: string): boolean {
    return this.value[name] !== undefined && this.value[name] !== null;
  }

  raw(name: string): unknown {
    this.read.add(name);
    return this.value[name];
  }

  /** Marks fields that are valid Kyverno but change nothing in an external webhook. */
  accept(...names: string[]): void {
    for (const name of names) this.read.add(name);
  }

  problem(name: string | undefined, message: string): void {
    report(this.context, name === undefined ? this.path : [...this.path, name], message);
  }

  /** A string field. */
  string(name: string, options?: { required?: boolean }): string | undefined;
  /** A string field that must be one of `allowed`, typed as their union. */
  string<Allowed extends string>(
    name: string,
    options: { required?: boolean; allowed: readonly Allowed[] },
  ): Allowed | undefined;
  string(
    name: string,
    options: { required?: boolean; allowed?: readonly string[] } = {},
  ): string | undefined {
    const value = this.raw(name);
    if (value === undefined || value === null) {
      if (options.required) this.problem(name, 'is required');
      return undefined;
    }
    if (typeof value !== 'string') {
      this.problem(name, `must be a string, got ${describe(value)}`);
      return undefined;
    }
    if (options.allowed && !options.allowed.includes(value)) {
      this.problem(name, `must be one of ${options.allowed.join(', ')}, got ${JSON.stringify(value)}`);
      return undefined;
    }
    return value;
  }

  boolean(name: string, fallback: boolean): boolean {
    const value = this.raw(name);
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'boolean') {
      this.problem(name, `must be true or false, got ${describe(value)}`);
      return fallback;
    }
    return value;
  }

  integer(name: string, options: { min?: number } = {}): number | undefined {
    const value = this.raw(name);
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < (options.min ?? -Infinity)) {
      this.problem(
        name,
        `must be an integer${options.min === undefined ? '' : ` >= ${options.min}`}, got ${describe(value)}`,
      );
      return undefined;
    }
    return value;
  }

  stringList(name: string): string[] {
    const value = this.raw(name);
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) {
      this.problem(name, `must be a list of strings, got ${describe(value)}`);
      return [];
    }
    const strings: string[] = [];
    value.forEach((item, index) => {
      if (typeof item === 'string') strings.push(item);
      else report(this.context, [...this.path, name, index], `must be a string, got ${describe(item)}`);
    });
    return strings;
  }

  stringMap(name: string): Record<string, string> {
    const value = this.raw(name);
    if (value === undefined || value === null) return {};
    const reader = FieldReader.of(value, [...this.path, name], this.context);
    if (!reader) return {};
    const map: Record<string, string> = {};
    for (const [key, item] of Object.entries(reader.value)) {
      if (typeof item === 'string') map[key] = item;
      else report(this.context, [...this.path, name, key], `must be a string, got ${describe(item)}`);
    }
    return map;
  }

  object(name: string, options: { required?: boolean } = {}): FieldReader | undefined {
    const value = this.raw(name);
    if (value === undefined || value === null) {
      if (options.required) this.problem(name, 'is required');
      return undefined;
    }
    return FieldReader.of(value, [...this.path, name], this.context);
  }

  list(name: string, options: { required?: boolean } = {}): FieldReader[] {
    const value = this.raw(name);
    if (value === undefined || value === null) {
      if (options.required) this.problem(name, 'is required');
      return [];
    }
    if (!Array.isArray(value)) {
      this.problem(name, `must be a list, got ${describe(value)}`);
      return [];
    }
    return value.flatMap(
      (item, index) => FieldReader.of(item, [...this.path, name, index], this.context) ?? [],
    );
  }

  /**
   * Reports fields with a known reason they are not supported, then every field that was not
   * read at all as unknown.
   */
  rejectUnknown(unsupported: Readonly<Record<string, string>> = {}): void {
    for (const name of Object.keys(this.value)) {
      if (this.read.has(name)) continue;
      const reason = unsupported[name];
      this.problem(name, reason ? `is not supported: ${reason}` : 'unknown field');
    }
  }
}

function report(context: CompileContext, path: readonly PathSegment[], message: string): void {
  context.problems.push({
    source: context.source,
    line: context.lineOf(path),
    path: formatPath(path),
    message,
  });
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${JSON.stringify(value)}`;
}
