import { createHash, generateKeyPairSync } from 'node:crypto';
import { KeyParseError, parsePublicKeys } from '../../../lib/verify/keys';
import { generateKeyPair } from '../../support/cosign-signer';
import { KYVERNO_SAMPLE_KEY } from '../../support/builders';

function parseError(pem: string): KeyParseError {
  try {
    parsePublicKeys(pem);
  } catch (error) {
    if (error instanceof KeyParseError) return error;
    throw error;
  }
  throw new Error('parsePublicKeys accepted the text');
}

describe('parsePublicKeys', () => {
  test("reads Kyverno's sample key", () => {
    const keys = parsePublicKeys(KYVERNO_SAMPLE_KEY);

    expect(keys).toHaveLength(1);
    expect(keys[0]!.key.asymmetricKeyType).toBe('ec');
  });

  test('the fingerprint is the sha256 of the DER SubjectPublicKeyInfo', () => {
    const pair = generateKeyPair('ecdsa-p256');
    const der = pair.publicKey.export({ format: 'der', type: 'spki' });

    expect(parsePublicKeys(pair.publicKeyPem)[0]!.fingerprint).toBe(
      createHash('sha256').update(der).digest('hex'),
    );
  });

  test('reads every PEM block of one string, in order, ignoring text around them', () => {
    const pairs = [generateKeyPair('ecdsa-p256'), generateKeyPair('ed25519'), generateKeyPair('ecdsa-p384')];
    const text = `# team keys\n${pairs.map((pair) => pair.publicKeyPem).join('\nnext one:\n')}\n`;

    const keys = parsePublicKeys(text);

    expect(keys.map((key) => key.key.asymmetricKeyType)).toEqual(['ec', 'ed25519', 'ec']);
    expect(keys.map((key) => key.fingerprint)).toEqual(
      pairs.map((pair) => parsePublicKeys(pair.publicKeyPem)[0]!.fingerprint),
    );
  });

  test('no PEM block: INVALID_PUBLIC_KEY', () => {
    const error = parseError('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA user@host');

    expect(error.code).toBe('INVALID_PUBLIC_KEY');
    expect(error.message).toBe('no PEM public key found (expected -----BEGIN PUBLIC KEY-----)');
  });

  test('an unreadable PEM block: INVALID_PUBLIC_KEY', () => {
    const error = parseError('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----');

    expect(error.code).toBe('INVALID_PUBLIC_KEY');
    expect(error.message).toMatch(/^unreadable public key: /);
  });

  test('one bad block among good ones fails the whole string', () => {
    const good = generateKeyPair('ecdsa-p256').publicKeyPem;

    expect(() =>
      parsePublicKeys(`${good}\n-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----`),
    ).toThrow(KeyParseError);
  });

  test('a key type cosign does not sign with: UNSUPPORTED_KEY_TYPE', () => {
    const x25519 = generateKeyPairSync('x25519').publicKey.export({ format: 'pem', type: 'spki' }).toString();

    const error = parseError(x25519);

    expect(error.code).toBe('UNSUPPORTED_KEY_TYPE');
    expect(error.message).toBe('unsupported public key type x25519 (ECDSA, RSA and Ed25519 are supported)');
  });
});
