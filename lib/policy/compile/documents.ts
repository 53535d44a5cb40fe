/**
 * The compiler's entry: a policy file (YAML, multi-document YAML or JSON) → compiled policies,
 * with every problem located by file, line and field path, in line order.
 */
import { LineCounter, parseAllDocuments, type Document } from 'yaml';
import { describeError } from '../../errors';
import { publicGoodTrustRoots, type TrustRoots } from '../../verify/trust-roots';
import type { CompileContext, PathSegment } from '../fields';
import type { PolicyProblem } from '../problems';
import type { Policy } from '../types';
import { readPolicy } from './policy';

/** What parsing checks a policy against besides its own text. */
export interface ParseOptions {
  /**
   * The trust roots the webhook runs with: a `rekor.url` must name one of their logs (or come
   * with `rekor.pubkey`). Default: the shipped public-good root only.
   */
  readonly trust?: TrustRoots | undefined;
}

/** Most aliases a document may expand (a "billion laughs" document is refused). */
const MAX_ALIAS_COUNT = 100;

/**
 * Parses one policy file into compiled policies. Never throws: every problem is returned with its
 * file, line and field path, and a document with any problem yields no policy.
 */
export function parsePolicyText(
  text: string,
  source: string,
  options: ParseOptions = {},
): { policies: Policy[]; problems: PolicyProblem[] } {
  const trust = options.trust ?? publicGoodTrustRoots();
  const lineCounter = new LineCounter();
  const documents = parseAllDocuments(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const policies: Policy[] = [];
  const problems: PolicyProblem[] = [];
  const docs = Array.isArray(documents) ? documents : [];
  if (!Array.isArray(documents)) {
    problems.push({ source, line: undefined, path: '', message: 'not a YAML stream' });
  }
  docs.forEach((document, index) => {
    if (document.errors.length > 0) {
      for (const error of document.errors) {
        const line = error.linePos?.[0].line ?? lineCounter.linePos(error.pos[0]).line;
        problems.push({
          source,
          line,
          path: '',
          message: `YAML error: ${error.message.split('\n')[0] ?? ''}`,
        });
      }
      return;
    }
    let value: unknown;
    try {
      value = document.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (error) {
      // yaml refuses to expand aliases past maxAliasCount (a "billion laughs" document).
      problems.push({ source, line: undefined, path: '', message: `YAML error: ${describeError(error)}` });
      return;
    }
    if (value === null || value === undefined) return;
    const documentProblems: PolicyProblem[] = [];
    const context: CompileContext = {
      source: docs.length > 1 ? `${source}#${index + 1}` : source,
      problems: documentProblems,
      lineOf: (path) => lineOf(document, lineCounter, path),
      trust,
    };
    const policy = readPolicy(value, context);
    problems.push(...documentProblems.sort(byLineThenCause));
    if (policy && documentProblems.length === 0) policies.push(policy);
  });
  return { policies, problems };
}

/** Line order; on one line, a misspelt field before the "is required" it causes. */
function byLineThenCause(a: PolicyProblem, b: PolicyProblem): number {
  const consequence = (problem: PolicyProblem) => (problem.message === 'is required' ? 1 : 0);
  return (a.line ?? 0) - (b.line ?? 0) || consequence(a) - consequence(b);
}

/** The line of the deepest node of `path` the document has. */
function lineOf(document: Document, counter: LineCounter, path: readonly PathSegment[]): number | undefined {
  for (let length = path.length; length >= 0; length--) {
    const node: unknown = length === 0 ? document.contents : document.getIn(path.slice(0, length), true);
    const range = (node as { range?: [number, number, number] } | undefined)?.range;
    if (range) return counter.linePos(range[0]).line;
  }
  return undefined;
}
