import { parsePolicyText, type ParseOptions } from './compile/documents';
import type { PolicyProblem } from './problems';
import type { Policy } from './types';

/** Every policy that applies to one cluster, and a version that changes whenever any of them does. */
export interface PolicySet {
  readonly policies: readonly Policy[];
  /** Hash of the objects' keys and etags; part of every decision and cache key. */
  readonly version: string;
}

/** One policy file's name and text, from a folder or an object store. */
export interface PolicyFile {
  readonly name: string;
  readonly text: string;
}

/** Parses every file; returns the problems of all of them instead of stopping at the first. */
export function parsePolicyFiles(
  files: readonly PolicyFile[],
  options: ParseOptions = {},
): {
  policies: Policy[];
  problems: PolicyProblem[];
} {
  const policies: Policy[] = [];
  const problems: PolicyProblem[] = [];
  for (const file of files) {
    const parsed = parsePolicyText(file.text, file.name, options);
    policies.push(...parsed.policies);
    problems.push(...parsed.problems);
  }
  const seen = new Map<string, string>();
  for (const policy of policies) {
    const id = `${policy.kind}/${policy.namespace ?? ''}/${policy.name}`;
    const first = seen.get(id);
    if (first !== undefined) {
      problems.push({
        source: policy.source,
        line: undefined,
        path: 'metadata.name',
        message: `${policy.kind} ${policy.name} is also defined in ${first}`,
      });
    }
    seen.set(id, policy.source);
  }
  return { policies, problems };
}
