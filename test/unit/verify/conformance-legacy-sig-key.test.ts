/**
 * shared/conformance/legacy-sig-key: real cosign `.sig` signatures made with static keys (from
 * ratify's cosign tests). Every vector must verify with its own key over the raw payload bytes
 * with SHA-256, and fail as soon as the payload, the signature or the key changes.
 * The files are byte-exact copies in test/fixtures/vendor (see test/fixtures/README.md).
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { COSIGN_SIGNATURE_ANNOTATION } from '../../../lib/model/cosign-format';
import type { SignatureLayer } from '../../../lib/model/evidence';
import type { SignatureHash } from '../../../lib/verify/keys';
import { parsePublicKeys } from '../../../lib/verify/keys';
import { verifyLayersWithKey, type KeyCheck } from '../../support/key-verification';
import { parseSimpleSigningPayload } from '../../../lib/verify/payload';

const VECTORS = path.resolve(__dirname, '../../fixtures/vendor/conformance/legacy-sig-key');

interface Expected {
  imageDigest: string;
  payloadDigest: string;
  expected: Record<string, string>;
}

const expected = JSON.parse(readFileSync(path.join(VECTORS, 'expected.json'), 'utf8')) as Expected;
const payload = readFileSync(path.join(VECTORS, 'payload.json'));
const names = Object.keys(expected.expected);
const vectors = names.map((name) => ({
  name,
  expected: expected.expected[name],
  pem: readFileSync(path.join(VECTORS, `${name}.pub.pem`), 'utf8'),
  signature: readFileSync(path.join(VECTORS, `${name}.sig.b64`), 'utf8').trim(),
}));

function layer(bytes: Uint8Array, signature: string): SignatureLayer {
  return {
    mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json',
    digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`,
    annotations: { [COSIGN_SIGNATURE_ANNOTATION]: signature },
    payload: bytes,
  };
}

function check(pem: string, hash: SignatureHash = 'sha256'): KeyCheck {
  const keys = parsePublicKeys(pem);
  expect(keys).toHaveLength(1);
  return { key: keys[0]!, hash, annotations: {} };
}

describe('conformance: legacy-sig-key', () => {
  test('the fixtures are the vectors: payload digest, digest claim and one expectation per key', () => {
    expect(`sha256:${createHash('sha256').update(payload).digest('hex')}`).toBe(expected.payloadDigest);
    expect(payload).toHaveLength(267);
    expect(parseSimpleSigningPayload(payload)?.dockerManifestDigest).toBe(expected.imageDigest);

    const keyFiles = readdirSync(VECTORS)
      .filter((file) => file.endsWith('.pub.pem'))
      .map((file) => file.replace(/\.pub\.pem$/, ''));
    expect([...names].sort()).toEqual(keyFiles.sort());
    expect([...names].sort()).toEqual(['ecdsa-p256', 'ecdsa-p384', 'rsa-2048', 'rsa-3072']);
  });

  describe.each(vectors)('$name', ({ name, expected: outcome, pem, signature }) => {
    test(`is ${outcome} with its own key, SHA-256, over the raw payload`, () => {
      expect(outcome).toBe('valid');

      const result = verifyLayersWithKey([layer(payload, signature)], expected.imageDigest, check(pem));

      expect(result).toEqual({ verified: true, layerDigest: expected.payloadDigest });
    });

    test.each([0, 100, 150, 266])('fails when payload byte %i is altered', (index) => {
      const altered = Buffer.from(payload);
      altered[index] = altered[index]! ^ 0x01;

      expect(verifyLayersWithKey([layer(altered, signature)], expected.imageDigest, check(pem))).toEqual({
        verified: false,
        reason: 'invalid signature',
      });
    });

    test.each([0, 'middle', 'last'] as const)('fails when signature byte %s is altered', (where) => {
      const bytes = Buffer.from(signature, 'base64');
      const index = where === 'middle' ? bytes.length >> 1 : where === 'last' ? bytes.length - 1 : where;
      bytes[index] = bytes[index]! ^ 0x01;

      expect(
        verifyLayersWithKey([layer(payload, bytes.toString('base64'))], expected.imageDigest, check(pem)),
      ).toEqual({ verified: false, reason: 'invalid signature' });
    });

    test.each(names.filter((otherName) => otherName !== name))("fails with %s's key", (otherName) => {
      const otherPem = readFileSync(path.join(VECTORS, `${otherName}.pub.pem`), 'utf8');

      expect(verifyLayersWithKey([layer(payload, signature)], expected.imageDigest, check(otherPem))).toEqual(
        {
          verified: false,
          reason: 'invalid signature',
        },
      );
    });

    test('fails for another image digest', () => {
      const otherDigest = `sha256:${'0'.repeat(64)}`;

      expect(verifyLayersWithKey([layer(payload, signature)], otherDigest, check(pem))).toEqual({
        verified: false,
        reason: `signature is for digest ${expected.imageDigest}, not ${otherDigest}`,
      });
    });
  });

  test('the P-384 signature is SHA-256: checking it with SHA-384 fails', () => {
    const p384 = vectors.find((vector) => vector.name === 'ecdsa-p384')!;

    expect(
      verifyLayersWithKey([layer(payload, p384.signature)], expected.imageDigest, check(p384.pem, 'sha384')),
    ).toEqual({ verified: false, reason: 'invalid signature' });
  });
});
