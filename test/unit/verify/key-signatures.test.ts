import { sign } from 'node:crypto';
import { verifyLayersWithKey } from '../../support/key-verification';
import { generateKeyPair, simpleSigningPayload, type KeyKind } from '../../support/cosign-signer';
import { DIGEST_A, DIGEST_B } from '../../support/builders';
import { keyAttestor, signatureLayer, signedLayer } from '../../support/signed-layers';

const REFERENCE = 'ghcr.io/kyverno/test-verify-image';
const ecdsa = generateKeyPair('ecdsa-p256');
const other = generateKeyPair('ecdsa-p256');
const payload = simpleSigningPayload(REFERENCE, DIGEST_A);

describe('verifyLayersWithKey', () => {
  test('no layers: signature not found', () => {
    expect(verifyLayersWithKey([], DIGEST_A, keyAttestor(ecdsa))).toEqual({
      verified: false,
      reason: 'signature not found',
    });
  });

  test('a signature by the key over a payload naming the digest verifies, and names its layer', () => {
    const layer = signedLayer(payload, ecdsa);

    expect(verifyLayersWithKey([layer], DIGEST_A, keyAttestor(ecdsa))).toEqual({
      verified: true,
      layerDigest: layer.digest,
    });
  });

  test.each<KeyKind>(['ecdsa-p256', 'ecdsa-p384', 'rsa-2048', 'ed25519'])('%s keys verify', (kind) => {
    const pair = generateKeyPair(kind);

    expect(verifyLayersWithKey([signedLayer(payload, pair)], DIGEST_A, keyAttestor(pair)).verified).toBe(
      true,
    );
  });

  test('ECDSA signatures in IEEE P1363 (r||s) form verify too, as cosign accepts them', () => {
    const signature = sign('sha256', payload, { key: ecdsa.privateKey, dsaEncoding: 'ieee-p1363' }).toString(
      'base64',
    );

    expect(
      verifyLayersWithKey([signatureLayer(payload, signature)], DIGEST_A, keyAttestor(ecdsa)).verified,
    ).toBe(true);
  });

  test('another key: invalid signature', () => {
    expect(verifyLayersWithKey([signedLayer(payload, other)], DIGEST_A, keyAttestor(ecdsa))).toEqual({
      verified: false,
      reason: 'invalid signature',
    });
  });

  test('a payload changed after signing: invalid signature', () => {
    const layer = signedLayer(payload, ecdsa);
    const tampered = Buffer.from(layer.payload);
    tampered[tampered.length - 3] = tampered[tampered.length - 3]! ^ 0x01;

    expect(verifyLayersWithKey([{ ...layer, payload: tampered }], DIGEST_A, keyAttestor(ecdsa))).toEqual({
      verified: false,
      reason: 'invalid signature',
    });
  });

  test.each([
    ['no signature annotation', null],
    ['an empty signature', ''],
    ['a signature that is not base64 of anything sensible', '!!!not-base64!!!'],
    ['random bytes', Buffer.alloc(72, 7).toString('base64')],
  ])('%s: invalid signature', (_name, signature) => {
    expect(verifyLayersWithKey([signatureLayer(payload, signature)], DIGEST_A, keyAttestor(ecdsa))).toEqual({
      verified: false,
      reason: 'invalid signature',
    });
  });

  test('a valid signature over a payload for another digest is refused, naming both digests', () => {
    const layer = signedLayer(simpleSigningPayload(REFERENCE, DIGEST_B), ecdsa);

    expect(verifyLayersWithKey([layer], DIGEST_A, keyAttestor(ecdsa))).toEqual({
      verified: false,
      reason: `signature is for digest ${DIGEST_B}, not ${DIGEST_A}`,
    });
  });

  test('a valid signature over something that is not a simple-signing payload is refused', () => {
    const layer = signedLayer(Buffer.from('{"hello":"world"}'), ecdsa);

    expect(verifyLayersWithKey([layer], DIGEST_A, keyAttestor(ecdsa))).toEqual({
      verified: false,
      reason: 'signature payload is not a cosign simple-signing document',
    });
  });

  test('a payload without a digest claim is refused', () => {
    const layer = signedLayer(Buffer.from('{"critical":{"identity":{},"image":{}},"optional":null}'), ecdsa);

    expect(verifyLayersWithKey([layer], DIGEST_A, keyAttestor(ecdsa))).toEqual({
      verified: false,
      reason: `signature is for digest (none), not ${DIGEST_A}`,
    });
  });

  test("payload keys match case-insensitively, as Go's encoding/json reads them", () => {
    const shouting = Buffer.from(
      `{"Critical":{"Identity":{"Docker-Reference":"${REFERENCE}"},"IMAGE":{"Docker-Manifest-Digest":"${DIGEST_A}"},"type":"cosign container image signature"},"optional":null}`,
    );

    expect(verifyLayersWithKey([signedLayer(shouting, ecdsa)], DIGEST_A, keyAttestor(ecdsa)).verified).toBe(
      true,
    );
  });

  describe('annotations', () => {
    const annotated = signedLayer(
      simpleSigningPayload(REFERENCE, DIGEST_A, { env: 'prod', team: 'payments' }),
      ecdsa,
    );

    test('required annotations present with the same values verify', () => {
      expect(
        verifyLayersWithKey([annotated], DIGEST_A, keyAttestor(ecdsa, { annotations: { env: 'prod' } }))
          .verified,
      ).toBe(true);
    });

    test('a different value is refused', () => {
      expect(
        verifyLayersWithKey([annotated], DIGEST_A, keyAttestor(ecdsa, { annotations: { env: 'dev' } })),
      ).toEqual({
        verified: false,
        reason: 'annotation env is "prod", expected "dev"',
      });
    });

    test('a missing annotation is refused', () => {
      expect(
        verifyLayersWithKey([annotated], DIGEST_A, keyAttestor(ecdsa, { annotations: { owner: 'me' } })),
      ).toEqual({
        verified: false,
        reason: 'annotation owner is missing, expected "me"',
      });
    });

    test('a payload with optional: null has no annotations', () => {
      expect(
        verifyLayersWithKey(
          [signedLayer(payload, ecdsa)],
          DIGEST_A,
          keyAttestor(ecdsa, { annotations: { env: 'prod' } }),
        ),
      ).toEqual({
        verified: false,
        reason: 'annotation env is missing, expected "prod"',
      });
    });
  });

  describe('several layers', () => {
    test('one good layer among bad ones is enough', () => {
      const good = signedLayer(payload, ecdsa);
      const layers = [signedLayer(payload, other), signatureLayer(payload, null), good];

      expect(verifyLayersWithKey(layers, DIGEST_A, keyAttestor(ecdsa))).toEqual({
        verified: true,
        layerDigest: good.digest,
      });
    });

    test('when none verifies, the reason of the layer that got furthest is given', () => {
      const layers = [
        signedLayer(payload, other),
        signedLayer(simpleSigningPayload(REFERENCE, DIGEST_B), ecdsa),
        signatureLayer(payload, null),
      ];

      expect(verifyLayersWithKey(layers, DIGEST_A, keyAttestor(ecdsa))).toEqual({
        verified: false,
        reason: `signature is for digest ${DIGEST_B}, not ${DIGEST_A}`,
      });
    });
  });

  describe('signature hash', () => {
    test('sha256 by default; a sha384 signature needs signatureAlgorithm sha384', () => {
      const p384 = generateKeyPair('ecdsa-p384');
      const layer = signedLayer(payload, p384, 'sha384');

      expect(verifyLayersWithKey([layer], DIGEST_A, keyAttestor(p384)).verified).toBe(false);
      expect(verifyLayersWithKey([layer], DIGEST_A, keyAttestor(p384, { hash: 'sha384' })).verified).toBe(
        true,
      );
    });

    test('Ed25519 ignores the hash setting', () => {
      const ed = generateKeyPair('ed25519');

      expect(
        verifyLayersWithKey([signedLayer(payload, ed)], DIGEST_A, keyAttestor(ed, { hash: 'sha512' }))
          .verified,
      ).toBe(true);
    });
  });
});
