/**
 * Fuzzing the policy loader (parsePolicyText): whatever the text, it returns policies and problems
 * and never throws, and a document with a problem yields no policy.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { parsePolicyText } from '../../../lib/policy/compile/documents';
import { fuzzParameters, FUZZ_RUNS, mutated, withinTime } from './fuzz';

const FIXTURES = join(__dirname, '..', '..', 'fixtures');

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return yamlFiles(path);
    return /\.ya?ml$/.test(entry.name) ? [path] : [];
  });
}

/** Real policies: Kyverno's samples in both syntaxes and the Kyverno library corpus. */
const corpus = [
  ...yamlFiles(join(FIXTURES, 'policies')),
  ...yamlFiles(join(FIXTURES, 'kyverno-library')),
].map((file) => readFileSync(file, 'utf8'));

/** The public key of Kyverno's sample policy, so that some generated policies load. */
const KEY = /-----BEGIN PUBLIC KEY-----[^-]+-----END PUBLIC KEY-----/.exec(
  readFileSync(join(FIXTURES, 'policies', 'kyverno-check-image.yaml'), 'utf8').replace(/\n\s+/g, '\n'),
)![0];

// Small inputs: the loader's reaction to shapes is what is tested, and each input stays cheap.
fc.configureGlobal({ baseSize: 'xsmall' });

/** Small random JSON values: breadth is cheap to generate and parse, and shapes are what matter here. */
const json = (maxDepth: number) => fc.jsonValue({ maxDepth, depthSize: 'xsmall' });

/** A policy object with random values where the loader expects specific shapes. */
const structured = fc
  .record(
    {
      apiVersion: fc.oneof(fc.constantFrom('kyverno.io/v1', 'kyverno.io/v2beta1'), json(2)),
      kind: fc.oneof(fc.constantFrom('ClusterPolicy', 'Policy'), json(2)),
      metadata: fc.oneof(
        fc.record(
          { name: fc.string({ maxLength: 20 }), namespace: fc.string({ maxLength: 10 }) },
          { requiredKeys: [] },
        ),
        json(2),
      ),
      spec: fc.record(
        {
          validationFailureAction: fc.oneof(fc.constantFrom('Enforce', 'audit', 'enforce'), json(1)),
          webhookConfiguration: json(3),
          rules: fc.array(
            fc.record(
              {
                name: fc.oneof(fc.string({ maxLength: 70 }), json(1)),
                match: fc.oneof(fc.constant({ any: [{ resources: { kinds: ['Pod'] } }] }), json(4)),
                exclude: json(3),
                verifyImages: fc.array(
                  fc.record(
                    {
                      imageReferences: fc.oneof(
                        fc.array(fc.string({ maxLength: 30 }), { maxLength: 3 }),
                        json(2),
                      ),
                      image: fc.string({ maxLength: 30 }),
                      key: fc.oneof(fc.constant(KEY), fc.string({ maxLength: 40 })),
                      failureAction: fc.oneof(fc.constantFrom('Audit', 'Enforce'), json(1)),
                      mutateDigest: json(1),
                      attestors: json(5),
                      imageExtractors: json(4),
                    },
                    { requiredKeys: [] },
                  ),
                  { maxLength: 3 },
                ),
              },
              { requiredKeys: [] },
            ),
            { maxLength: 3 },
          ),
        },
        { requiredKeys: [] },
      ),
    },
    { requiredKeys: [] },
  )
  .chain((policy) =>
    fc.constantFrom(
      JSON.stringify(policy),
      stringify(policy),
      `${stringify(policy)}---\n${stringify(policy)}`,
    ),
  );

const texts = fc.oneof(
  { weight: 4, arbitrary: mutated(fc.constantFrom(...corpus)) },
  { weight: 2, arbitrary: structured },
  { weight: 2, arbitrary: fc.string({ maxLength: 200 }) },
  {
    weight: 1,
    arbitrary: fc.string({ unit: fc.constantFrom(...'ab:- \n\t{}[]&*!|>"\'#%@,?'), maxLength: 200 }),
  },
  // Anchors and aliases: the "billion laughs" shape, and aliases to themselves.
  {
    weight: 1,
    arbitrary: fc.integer({ min: 1, max: 12 }).map((levels) => {
      const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
      for (let level = 1; level <= levels; level++) {
        lines.push(
          `a${level}: &a${level} [${Array(10)
            .fill(`*a${level - 1}`)
            .join(', ')}]`,
        );
      }
      return `apiVersion: kyverno.io/v1\nkind: ClusterPolicy\n${lines.join('\n')}\nspec: *a${levels}\n`;
    }),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.integer({ min: 1, max: 100 }), fc.constantFrom('[', '{a: ', '- ', '  - '))
      .map(([depth, open]) => `apiVersion: kyverno.io/v1\nkind: ClusterPolicy\nspec: ${open.repeat(depth)}`),
  },
);

// The yaml library reports odd keys (a map used as a key) with process warnings; they are expected here.
let warnings: jest.SpyInstance;
beforeAll(() => {
  warnings = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
});
afterAll(() => warnings.mockRestore());

test(`parsePolicyText: ${FUZZ_RUNS} inputs, never throws, problems or policies`, () => {
  let loaded = 0;
  let refused = 0;
  fc.assert(
    fc.property(texts, (text) => {
      const result = withinTime('parsePolicyText', () => parsePolicyText(text, 'fuzz.yaml'));
      expect(Array.isArray(result.policies) && Array.isArray(result.problems)).toBe(true);
      for (const problem of result.problems) {
        expect(problem.source).toMatch(/^fuzz\.yaml(#\d+)?$/);
        expect(typeof problem.message).toBe('string');
        expect(problem.message.length).toBeGreaterThan(0);
      }
      if (result.policies.length > 0) loaded++;
      if (result.problems.length > 0) refused++;
    }),
    fuzzParameters(0x5eed_0003),
  );
  // Both outcomes must be reached, or the generators test nothing.
  expect(loaded).toBeGreaterThan(FUZZ_RUNS / 200);
  expect(refused).toBeGreaterThan(FUZZ_RUNS / 10);
});

test.each([
  ['flow sequences', '['],
  ['flow mappings', '{a: '],
  ['block sequences', '- '],
])('parsePolicyText: 20 000 levels of %s are a problem, not a crash', (_name, open) => {
  const text = `apiVersion: kyverno.io/v1\nkind: ClusterPolicy\nspec: ${open.repeat(20_000)}`;
  const result = parsePolicyText(text, 'deep.yaml');
  expect(result.policies).toEqual([]);
  expect(result.problems.length).toBeGreaterThan(0);
});

test('parsePolicyText: an alias bomb is a YAML problem', () => {
  const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
  for (let level = 1; level <= 9; level++) {
    lines.push(
      `a${level}: &a${level} [${Array(10)
        .fill(`*a${level - 1}`)
        .join(', ')}]`,
    );
  }
  const result = parsePolicyText(`${lines.join('\n')}\nspec: *a9\n`, 'bomb.yaml');
  expect(result).toEqual({
    policies: [],
    problems: [
      {
        source: 'bomb.yaml',
        line: undefined,
        path: '',
        message: 'YAML error: Excessive alias count indicates a resource exhaustion attack',
      },
    ],
  });
});
