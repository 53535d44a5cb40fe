import { createHash } from 'node:crypto';
import { parsePolicyText } from './parse';
import { PolicyLoadError, type PolicyProblem } from './problems';
import type { Policy } from './types';

/** Every policy that applies to one cluster, and a version that changes whenever any of them does. */
export interface PolicySet {
  readonly policies: readonly Policy[];
  /** sha256 over the sources and their contents; part of every decision and cache key. */
  readonly version: string;
}

/** Port: the policy set in force now. Throws when no valid set could ever be loaded. */
export interface PolicyProvider {
  current(): Promise<PolicySet>;
}

/** One policy file's name and text, from a folder or an object store. */
export interface PolicyFile {
  readonly name: string;
  readonly text: string;
}

/** Parses every file; returns the problems of all of them instead of stopping at the first. */
export function parsePolicyFiles(files: readonly PolicyFile[]): {
  policies: Policy[];
  problems: PolicyProblem[];
} {
  const policies: Policy[] = [];
  const problems: PolicyProblem[] = [];
  for (const file of files) {
    const parsed = parsePolicyText(file.text, file.name);
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

/** Builds a policy set, or throws {@link PolicyLoadError} listing every problem in every file. */
export function buildPolicySet(files: readonly PolicyFile[]): PolicySet {
  const { policies, problems } = parsePolicyFiles(files);
  if (problems.length > 0) throw new PolicyLoadError(problems);
  const hash = createHash('sha256');
  for (const file of [...files].sort((a, b) => a.name.localeCompare(b.name))) {
    hash.update(file.name).update('\0').update(file.text).update('\0');
  }
  return { policies, version: hash.digest('hex').slice(0, 16) };
}
