/** Fuzzing the simple-signing payload parser: any bytes give claims or `undefined`, never an exception. */
import fc from 'fast-check';
import { parseSimpleSigningPayload } from '../../../lib/verify/payload';
import { fuzzParameters, FUZZ_RUNS, mutated, withinTime } from './fuzz';

const DIGEST = `sha256:${'ab'.repeat(32)}`;
const genuine = (reference: string, digest: string, optional: string) =>
  `{"critical":{"identity":{"docker-reference":${JSON.stringify(reference)}},"image":{"docker-manifest-digest":${JSON.stringify(digest)}},"type":"cosign container image signature"},"optional":${optional}}`;

const payloadText = fc.oneof(
  fc
    .tuple(
      fc.string({ maxLength: 40 }),
      fc.oneof(fc.constant(DIGEST), fc.string({ maxLength: 70 })),
      fc.constantFrom('null', '{}', '{"env":"prod"}', '[]', '"x"'),
    )
    .map(([reference, digest, optional]) => genuine(reference, digest, optional)),
  // Go's encoding/json matches keys case-insensitively: vary the case of every key.
  fc
    .tuple(
      fc.constantFrom('critical', 'CRITICAL', 'Critical'),
      fc.constantFrom('image', 'Image'),
      fc.constantFrom('docker-manifest-digest', 'Docker-Manifest-Digest'),
    )
    .map(
      ([critical, image, key]) =>
        `{"${critical}":{"${image}":{"${key}":"${DIGEST}"},"identity":{"docker-reference":"r"}}}`,
    ),
);

const bodies = fc.oneof(
  { weight: 3, arbitrary: payloadText.map((text) => Buffer.from(text)) },
  { weight: 3, arbitrary: mutated(payloadText).map((text) => Buffer.from(text)) },
  {
    weight: 2,
    arbitrary: fc.jsonValue({ maxDepth: 6 }).map((value) => Buffer.from(JSON.stringify(value) ?? '')),
  },
  {
    weight: 1,
    arbitrary: fc
      .jsonValue({ maxDepth: 4 })
      .map((value) =>
        Buffer.from(JSON.stringify({ critical: { image: value, identity: value }, optional: value }) ?? ''),
      ),
  },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.integer({ min: 1, max: 20_000 }), fc.constantFrom('[', '{"critical":'))
      .map(([depth, open]) => Buffer.from(open.repeat(depth))),
  },
);

test(`parseSimpleSigningPayload: ${FUZZ_RUNS} inputs, claims of the right types or undefined`, () => {
  let claims = 0;
  fc.assert(
    fc.property(bodies, (bytes) => {
      const parsed = withinTime('parseSimpleSigningPayload', () => parseSimpleSigningPayload(bytes));
      if (parsed === undefined) return;
      claims++;
      for (const value of [parsed.dockerManifestDigest, parsed.dockerReference]) {
        expect(value === undefined || typeof value === 'string').toBe(true);
      }
      const optional = parsed.optional;
      expect(
        optional === undefined ||
          (typeof optional === 'object' && optional !== null && !Array.isArray(optional)),
      ).toBe(true);
    }),
    fuzzParameters(0x5eed_0002),
  );
  expect(claims).toBeGreaterThan(FUZZ_RUNS / 10);
});
