/**
 * Shared settings of the fuzz tests: every target runs at least 10 000 generated inputs from a fixed
 * seed, so a run is reproducible and a failure names the seed and path that replay it.
 *
 *   FUZZ_SEED=123 FUZZ_RUNS=100000 npx jest test/unit/fuzz     # another seed, more inputs
 */
import fc from 'fast-check';

/** Inputs per target: 10 000 unless FUZZ_RUNS asks for more. */
export const FUZZ_RUNS = Math.max(10_000, Number(process.env.FUZZ_RUNS) || 0);

/** fast-check parameters for one target: its own fixed seed unless FUZZ_SEED overrides every target's. */
export function fuzzParameters<T>(seed: number): fc.Parameters<T> {
  return { seed: Number(process.env.FUZZ_SEED) || seed, numRuns: FUZZ_RUNS, endOnFailure: true };
}

/**
 * The longest one input may take. Far above a normal input (well under a millisecond) and far below
 * what a pathological one costs (catastrophic regex backtracking, quadratic walks: seconds), so a
 * slow CI machine does not fail it but a regression does.
 */
export const PER_INPUT_MS = 500;

/** Runs `work` and fails when it took longer than {@link PER_INPUT_MS}. */
export function withinTime<T>(what: string, work: () => T): T {
  const started = performance.now();
  const result = work();
  const elapsed = performance.now() - started;
  if (elapsed > PER_INPUT_MS)
    throw new Error(`${what} took ${elapsed.toFixed(0)} ms (limit ${PER_INPUT_MS} ms)`);
  return result;
}

/** Characters that matter to YAML, JSON and reference grammars, for insertions. */
const SPECIAL = [...':-/@.\n\t {}[]&*!|>"\'#%,?=_+\\~`$', '\u0000', '\u2028', '\uffff', 'é', '😀'];

/** Text with a few random edits: a slice deleted, and something inserted in its place. */
export function mutated(base: fc.Arbitrary<string>): fc.Arbitrary<string> {
  const insertion = fc.oneof(
    fc.string({ unit: fc.constantFrom(...SPECIAL), maxLength: 6 }),
    fc.string({ maxLength: 6 }),
    fc.constantFrom('{{', '}}', '- ', ': ', '&a ', '*a', '!!binary ', '---\n', 'null', '[]', '{}', '"'),
  );
  const edit = fc.tuple(fc.nat(), fc.nat({ max: 12 }), insertion);
  return fc.tuple(base, fc.array(edit, { minLength: 1, maxLength: 4 })).map(([text, edits]) =>
    edits.reduce((current, [at, remove, insert]) => {
      const index = at % (current.length + 1);
      return current.slice(0, index) + insert + current.slice(index + remove);
    }, text),
  );
}
