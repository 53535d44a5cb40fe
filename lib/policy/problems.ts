import { ImagegateError } from '../errors';

/** One reason a policy file cannot be used, located by file, line and field path. */
export interface PolicyProblem {
  readonly source: string;
  readonly line: number | undefined;
  /** Dotted field path, e.g. `spec.rules[0].verifyImages[0].attestors[0].entries[0].keys.publicKeys`. */
  readonly path: string;
  readonly message: string;
}

/** `file:line field.path: reason`, the form `imagegate policy lint` prints. */
export function formatProblem(problem: PolicyProblem): string {
  const location = problem.line === undefined ? problem.source : `${problem.source}:${problem.line}`;
  return problem.path ? `${location} ${problem.path}: ${problem.message}` : `${location}: ${problem.message}`;
}

const MAX_PROBLEMS_IN_MESSAGE = 5;

/** A policy set that cannot be loaded; `problems` lists every reason found. */
export class PolicyLoadError extends ImagegateError<'INVALID_POLICY'> {
  readonly problems: readonly PolicyProblem[];

  constructor(problems: readonly PolicyProblem[]) {
    const shown = problems.slice(0, MAX_PROBLEMS_IN_MESSAGE).map(formatProblem);
    const more = problems.length > shown.length ? `; and ${problems.length - shown.length} more` : '';
    super('INVALID_POLICY', `${shown.join('; ') || 'invalid policy'}${more}`);
    this.problems = problems;
  }
}
