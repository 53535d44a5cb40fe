/** Fuzzing the image reference parser: every input parses or is refused with ImageReferenceError, quickly. */
import fc from 'fast-check';
import { ImageReferenceError } from '../../../lib/model/registry-errors';
import {
  canonicalReference,
  formatReference,
  namesRegistry,
  parseImageReference,
  pinnedReference,
  type ImageReference,
} from '../../../lib/model/image';
import { imageSpellings } from '../../../lib/policy/image-patterns';
import { fuzzParameters, FUZZ_RUNS, mutated, withinTime } from './fuzz';

const hex = (length: number) =>
  fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: length, maxLength: length });
const alnum = fc.string({ unit: fc.constantFrom(...'abcxyz0189'), minLength: 1, maxLength: 6 });
/** A repository path component: alphanumeric runs joined by separators (sometimes a wrong one). */
const component = fc
  .tuple(
    alnum,
    fc.array(fc.tuple(fc.constantFrom('.', '_', '__', '-', '---', '..', '/'), alnum), { maxLength: 2 }),
  )
  .map(([first, rest]) => first + rest.map(([separator, run]) => separator + run).join(''));
const host = fc.oneof(
  fc.constantFrom(
    'ghcr.io',
    'docker.io',
    'localhost',
    '127.0.0.1:5000',
    '[::1]:5000',
    'Registry.Example:443',
    'a.b.c.d.e',
  ),
  fc
    .tuple(component, fc.option(fc.integer({ min: 0, max: 70_000 })))
    .map(([name, port]) => (port === null ? `${name}.io` : `${name}:${port}`)),
);
const tag = fc.string({ unit: fc.constantFrom(...'abcXYZ019._-'), minLength: 1, maxLength: 130 });
const digest = fc.oneof(
  hex(64).map((value) => `sha256:${value}`),
  hex(128).map((value) => `sha512:${value}`),
  fc.tuple(fc.string({ maxLength: 8 }), hex(40)).map(([algorithm, value]) => `${algorithm}:${value}`),
);
/** References built from the grammar's parts, valid or nearly so. */
const grammatical = fc
  .tuple(
    fc.option(host),
    fc.array(component, { minLength: 1, maxLength: 6 }),
    fc.option(tag),
    fc.option(digest),
  )
  .map(
    ([registry, path, version, pin]) =>
      `${registry ? `${registry}/` : ''}${path.join('/')}${version ? `:${version}` : ''}${pin ? `@${pin}` : ''}`,
  );

const references = fc.oneof(
  { weight: 4, arbitrary: grammatical },
  { weight: 3, arbitrary: mutated(grammatical) },
  { weight: 2, arbitrary: fc.string({ maxLength: 80 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 80 }) },
  // Long runs of one character class: where regular expressions backtrack.
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.constantFrom('a', '-', '.', '_', 'a-', 'a.', '_a', ':', '/', '@', '0'),
        fc.integer({ min: 100, max: 5_000 }),
        fc.string({ maxLength: 3 }),
      )
      .map(([unit, count, tail]) => unit.repeat(count) + tail),
  },
);

function same(a: ImageReference, b: ImageReference): boolean {
  return (
    a.registry === b.registry &&
    a.repository === b.repository &&
    a.digest === b.digest &&
    (a.digest !== undefined || a.tag === b.tag)
  );
}

test(`parseImageReference: ${FUZZ_RUNS} inputs, no other exception, stable round trip`, () => {
  let parsed = 0;
  fc.assert(
    fc.property(references, (text) => {
      let ref: ImageReference;
      try {
        ref = withinTime('parseImageReference', () => parseImageReference(text));
      } catch (error) {
        if (error instanceof ImageReferenceError) {
          expect(error.message.startsWith('invalid image reference ')).toBe(true);
          return;
        }
        throw error;
      }
      parsed++;
      expect(ref.registry.length).toBeGreaterThan(0);
      expect(ref.repository.length).toBeGreaterThan(0);
      expect(ref.tag !== undefined || ref.digest !== undefined).toBe(true);
      // What imagegate writes into messages and patches parses back to the same image.
      expect(same(parseImageReference(formatReference(ref)), ref)).toBe(true);
      const pinned = parseImageReference(pinnedReference(ref, `sha256:${'0'.repeat(64)}`));
      expect([pinned.registry, pinned.repository]).toEqual([ref.registry, ref.repository]);
      expect(pinned.written).toEqual(ref.written);
      // The canonical form is a fixed point, and every spelling matched names the same image.
      // (A single-label host written in upper case, `JVZ/c`, is canonically `jvz`: its spellings
      // are host-qualified names for matching, which as reference text would name Docker Hub.)
      if (!namesRegistry(ref.registry)) return;
      const canonical = parseImageReference(canonicalReference(ref));
      expect(same(canonical, ref)).toBe(true);
      expect(canonical.written).toEqual({ registry: ref.registry, repository: ref.repository });
      for (const spelling of imageSpellings(ref)) {
        const again = parseImageReference(spelling);
        // `repo:tag` of a `repo:tag@digest` is the one spelling that leaves the digest out.
        expect([again.registry, again.repository, again.digest ?? again.tag]).toEqual([
          ref.registry,
          ref.repository,
          spelling.includes('@') ? ref.digest : ref.tag,
        ]);
      }
    }),
    fuzzParameters(0x5eed_0001),
  );
  // The generators must reach the parser's success path, not only its refusals.
  expect(parsed).toBeGreaterThan(FUZZ_RUNS / 10);
});
