/** Attestors for the verify tests, built by the real policy parser from an `entries[0]` snippet. */
import { parsePolicyText } from '../../lib/policy/compile/documents';
import { formatProblem } from '../../lib/policy/problems';
import type { AttestorSet, ImageVerification, LeafAttestor } from '../../lib/policy/types';
import type { TrustRoots } from '../../lib/verify/trust-roots';

/** Indents a (multi-line) value for a YAML block scalar. */
export function block(text: string, spaces: number): string {
  return text
    .trim()
    .split('\n')
    .map((line) => ' '.repeat(spaces) + line)
    .join('\n');
}

/** A policy whose only verifyImages entry holds `entryLines` (indented under the entry). */
export function policyWith(entryLines: readonly string[], options: { type?: string } = {}): string {
  return [
    'apiVersion: kyverno.io/v1',
    'kind: ClusterPolicy',
    'metadata:',
    '  name: keyless',
    'spec:',
    '  rules:',
    '    - name: keyless',
    '      match:',
    '        any:',
    '          - resources:',
    '              kinds: [Pod]',
    '      verifyImages:',
    "        - imageReferences: ['*']",
    '          failureAction: Enforce',
    ...(options.type ? [`          type: ${options.type}`] : []),
    ...entryLines.flatMap((line) => line.split('\n')).map((line) => `          ${line}`),
    '',
  ].join('\n');
}

/** The verifyImages entry of {@link policyWith}, failing the test on any load problem. */
export function entryFrom(
  entryLines: readonly string[],
  options: { type?: string; trust?: TrustRoots } = {},
): ImageVerification {
  const { policies, problems } = parsePolicyText(policyWith(entryLines, options), 'policy.yaml', {
    trust: options.trust,
  });
  if (problems.length > 0) throw new Error(problems.map(formatProblem).join('\n'));
  const entry = policies[0]?.rules[0]?.verifyImages[0];
  if (!entry) throw new Error('no verifyImages entry');
  return entry;
}

/** The single leaf attestor of an `attestors: [{entries: [<attestor>]}]` snippet. */
export function attestorFrom(
  attestorLines: readonly string[],
  options: { trust?: TrustRoots } = {},
): LeafAttestor {
  const sets = setsFrom(attestorLines, options);
  const attestor = sets[0]?.entries[0];
  if (!attestor || attestor.kind === 'set') throw new Error('no leaf attestor');
  return attestor;
}

export function setsFrom(
  attestorLines: readonly string[],
  options: { trust?: TrustRoots } = {},
): readonly AttestorSet[] {
  const lines = attestorLines.flatMap((line) => line.split('\n')).map((line) => `      ${line}`);
  return entryFrom(['attestors:', '  - entries:', ...lines], options).attestorSets;
}

/** The problems of loading `entryLines` (formatted `file:line path: message`). */
export function problemsOf(entryLines: readonly string[], options: { trust?: TrustRoots } = {}): string[] {
  return parsePolicyText(policyWith(entryLines), 'policy.yaml', { trust: options.trust }).problems.map(
    (problem) => `${problem.path}: ${problem.message}`,
  );
}
