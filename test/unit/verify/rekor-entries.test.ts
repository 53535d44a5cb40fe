/** Rekor entry bodies of every kind, read by one parser (lib/verify/rekor-entries.ts). */
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { X509Certificate } from '@sigstore/core';
import { keyFingerprint } from '../../../lib/verify/certificates';
import {
  attestationEntryMismatch,
  entryNamesOnly,
  parseRekorEntryBody,
  readSignatureEntry,
  signatureEntryMismatch,
  type RekorEntryBody,
} from '../../../lib/verify/rekor-entries';
import { createTestSigstore, type SigningIdentity, type TestSigstore } from '../../support/sigstore';

const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
const other = generateKeyPairSync('ed25519').publicKey;
const pem = (item: KeyObject) => item.export({ format: 'pem', type: 'spki' }).toString();
const b64 = (text: string | Buffer) => Buffer.from(text).toString('base64');
const der = (item: KeyObject) => item.export({ format: 'der', type: 'spki' }).toString('base64');
const json = (value: unknown) => Buffer.from(JSON.stringify(value));
const envelope = Buffer.from(
  '{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[]}',
);
const envelopeHash = createHash('sha256').update(envelope).digest('hex');
const payload = Buffer.from('{"critical":{}}');
const payloadHash = createHash('sha256').update(payload).digest('hex');

let sigstore: TestSigstore;
let identity: SigningIdentity;
beforeAll(() => {
  sigstore = createTestSigstore('rekor-entries');
  identity = sigstore.issue({ email: 'dev@acme.example', issuer: 'https://accounts.example' });
});

function parsed(value: unknown): RekorEntryBody {
  const entry = parseRekorEntryBody(json(value));
  if (typeof entry === 'string') throw new Error(entry);
  return entry;
}

const fingerprints = (entry: RekorEntryBody) => entry.signers.map((signer) => signer?.fingerprint);

describe('parseRekorEntryBody reads every kind', () => {
  test.each(['hashedrekord', 'rekord'])('%s 0.0.1: signature, payload hash, signer key', (kind) => {
    const entry = parsed({
      kind,
      apiVersion: '0.0.1',
      spec: {
        data: { hash: { algorithm: 'sha256', value: payloadHash.toUpperCase() } },
        signature: { content: 'c2ln', publicKey: { content: b64(pem(key)) } },
      },
    });
    expect(entry).toMatchObject({ kind, apiVersion: '0.0.1', signature: 'c2ln' });
    expect(entry.hash).toEqual({ algorithm: 'sha256', value: payloadHash });
    expect(fingerprints(entry)).toEqual([keyFingerprint(key)]);
  });

  test('hashedrekord 0.0.1 with a certificate: the certificate is kept', () => {
    const entry = parsed({
      kind: 'hashedrekord',
      apiVersion: '0.0.1',
      spec: { signature: { content: 'c2ln', publicKey: { content: b64(identity.pem) } } },
    });
    expect(entry.signers[0]?.certificate?.equals(X509Certificate.parse(identity.pem))).toBe(true);
    expect(fingerprints(entry)).toEqual([keyFingerprint(identity.publicKey)]);
  });

  test('intoto 0.0.1: content hash and the spec public key', () => {
    const entry = parsed({
      kind: 'intoto',
      apiVersion: '0.0.1',
      spec: { content: { hash: { algorithm: 'sha256', value: envelopeHash } }, publicKey: b64(pem(key)) },
    });
    expect(entry.hash).toEqual({ algorithm: 'sha256', value: envelopeHash });
    expect(fingerprints(entry)).toEqual([keyFingerprint(key)]);
  });

  test('intoto 0.0.2: content hash and every envelope signature key', () => {
    const entry = parsed({
      kind: 'intoto',
      apiVersion: '0.0.2',
      spec: {
        content: {
          hash: { algorithm: 'sha256', value: envelopeHash },
          envelope: { signatures: [{ publicKey: b64(pem(key)) }, { publicKey: b64(pem(other)) }] },
        },
      },
    });
    expect(entry.hash?.value).toBe(envelopeHash);
    expect(fingerprints(entry)).toEqual([keyFingerprint(key), keyFingerprint(other)]);
  });

  test('dsse 0.0.1: envelope hash and every verifier', () => {
    const entry = parsed({
      kind: 'dsse',
      apiVersion: '0.0.1',
      spec: {
        envelopeHash: { algorithm: 'sha256', value: envelopeHash },
        signatures: [{ verifier: b64(pem(key)) }],
      },
    });
    expect(entry.hash?.value).toBe(envelopeHash);
    expect(fingerprints(entry)).toEqual([keyFingerprint(key)]);
  });

  test('Rekor v2 hashedrekord 0.0.2: a DER public key or certificate verifier', () => {
    const byKey = parsed({
      kind: 'hashedrekord',
      apiVersion: '0.0.2',
      spec: { hashedRekordV002: { signature: { verifier: { publicKey: { rawBytes: der(key) } } } } },
    });
    expect(fingerprints(byKey)).toEqual([keyFingerprint(key)]);
    const byCertificate = parsed({
      kind: 'hashedrekord',
      apiVersion: '0.0.2',
      spec: {
        hashedRekordV002: {
          signature: { verifier: { x509Certificate: { rawBytes: identity.der.toString('base64') } } },
        },
      },
    });
    expect(fingerprints(byCertificate)).toEqual([keyFingerprint(identity.publicKey)]);
  });

  test('Rekor v2 dsse 0.0.2: every verifier', () => {
    const entry = parsed({
      kind: 'dsse',
      apiVersion: '0.0.2',
      spec: {
        dsseV002: {
          signatures: [
            { verifier: { publicKey: { rawBytes: der(key) } } },
            { verifier: { publicKey: { rawBytes: 'not DER' } } },
          ],
        },
      },
    });
    expect(fingerprints(entry)).toEqual([keyFingerprint(key), undefined]);
  });

  test('an unknown kind names no signer; a body that is not JSON is refused', () => {
    expect(parsed({ kind: 'helm', apiVersion: '0.0.1', spec: {} }).signers).toEqual([]);
    expect(typeof parseRekorEntryBody(Buffer.from('{'))).toBe('string');
    expect(parsed(null)).toMatchObject({ kind: undefined, signers: [] });
  });

  test('an unreadable key is an unreadable signer, not a missing one', () => {
    const entry = parsed({
      kind: 'hashedrekord',
      apiVersion: '0.0.1',
      spec: {
        signature: { content: 'c2ln', publicKey: { content: b64('-----BEGIN PUBLIC KEY-----\nx\n') } },
      },
    });
    expect(entry.signers).toEqual([undefined]);
  });
});

describe('the checks on what an entry records', () => {
  const signatureBody = (signerPem: string, signature = 'c2ln') =>
    b64(
      JSON.stringify({
        kind: 'hashedrekord',
        apiVersion: '0.0.1',
        spec: {
          data: { hash: { algorithm: 'sha256', value: payloadHash } },
          signature: { content: signature, publicKey: { content: b64(signerPem) } },
        },
      }),
    );

  test('a .sig entry must be hashedrekord or rekord 0.0.1', () => {
    expect(typeof readSignatureEntry(signatureBody(pem(key)))).toBe('object');
    expect(typeof readSignatureEntry(b64(JSON.stringify({ kind: 'dsse', apiVersion: '0.0.1' })))).toBe(
      'string',
    );
  });

  test('a .sig entry records this signature, payload and signer', () => {
    const entry = readSignatureEntry(signatureBody(pem(key)));
    if (typeof entry === 'string') throw new Error(entry);
    const signed = { signature: 'c2ln', payload, key, certificate: undefined };
    expect(signatureEntryMismatch(entry, signed)).toBeUndefined();
    expect(signatureEntryMismatch(entry, { ...signed, signature: 'b3RoZXI=' })).toBeDefined();
    expect(signatureEntryMismatch(entry, { ...signed, payload: Buffer.from('other') })).toBeDefined();
    expect(signatureEntryMismatch(entry, { ...signed, key: other })).toBeDefined();
  });

  test('a .att entry: intoto or dsse, for these envelope bytes, by this signer', () => {
    const body = (kind: string, apiVersion: string, spec: unknown) =>
      b64(JSON.stringify({ kind, apiVersion, spec }));
    const dsse = body('dsse', '0.0.1', {
      envelopeHash: { algorithm: 'sha256', value: envelopeHash },
      signatures: [{ verifier: b64(pem(key)) }],
    });
    const signer = { key, certificate: undefined };
    expect(attestationEntryMismatch(dsse, envelope, signer)).toBeUndefined();
    expect(attestationEntryMismatch(dsse, Buffer.from('other'), signer)).toBeDefined();
    expect(attestationEntryMismatch(dsse, envelope, { key: other, certificate: undefined })).toBeDefined();
    const unsigned = body('dsse', '0.0.1', { envelopeHash: { algorithm: 'sha256', value: envelopeHash } });
    expect(attestationEntryMismatch(unsigned, envelope, signer)).toBeDefined();
    expect(attestationEntryMismatch(signatureBody(pem(key)), envelope, signer)).toBeDefined();
  });

  test('a bundle entry names only the signer (cosign comparePublicKey)', () => {
    const entry = (verifiers: KeyObject[]) =>
      json({
        kind: 'dsse',
        apiVersion: '0.0.2',
        spec: {
          dsseV002: {
            signatures: verifiers.map((item) => ({ verifier: { publicKey: { rawBytes: der(item) } } })),
          },
        },
      });
    expect(entryNamesOnly(entry([key]), key)).toBe(true);
    expect(entryNamesOnly(entry([key, other]), key)).toBe(false);
    expect(entryNamesOnly(entry([]), key)).toBe(false);
    expect(entryNamesOnly(Buffer.from('{'), key)).toBe(false);
  });
});
