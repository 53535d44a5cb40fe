/**
 * Rekor entry bodies, every kind imagegate meets, read in one place: v1 `hashedrekord` and
 * `rekord` 0.0.1 (cosign `.sig` layers), `intoto` 0.0.1 / 0.0.2 and `dsse` 0.0.1 (`.att` layers,
 * bundles), and Rekor v2 `hashedrekord` / `dsse` 0.0.2 (bundles). Then the checks of what an entry
 * records against the signature it is meant to prove.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { X509Certificate } from '@sigstore/core';
import { keyFingerprint } from './certificates';

/** A signer an entry records: its key's fingerprint, and the certificate when it is one. */
export interface RecordedSigner {
  readonly fingerprint: string;
  readonly certificate: X509Certificate | undefined;
}

/** What a Rekor entry body records about the signature it proves. */
export interface RekorEntryBody {
  /** `kind` and `apiVersion` as written (not necessarily strings). */
  readonly kind: unknown;
  readonly apiVersion: unknown;
  /** base64 signature as recorded (`hashedrekord` / `rekord` 0.0.1; string-compared, as cosign does). */
  readonly signature: string | undefined;
  /**
   * The recorded hash: of the signed payload (`hashedrekord`, `rekord`), of the envelope
   * (`intoto`, `dsse`); `value` lower-cased.
   */
  readonly hash: { readonly algorithm: unknown; readonly value: string | undefined } | undefined;
  /** Every signer the entry names; `undefined` for one whose key or certificate cannot be read. */
  readonly signers: readonly (RecordedSigner | undefined)[];
}

/** Reads an entry body (its JSON bytes) of any kind; a reason when it is not JSON. */
export function parseRekorEntryBody(json: Uint8Array): RekorEntryBody | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(json).toString('utf8'));
  } catch {
    return 'the Rekor entry body is not JSON';
  }
  const body = record(parsed) ?? {};
  const spec = record(body.spec) ?? {};
  const entry = { kind: body.kind, apiVersion: body.apiVersion, signature: undefined, hash: undefined };
  switch (`${String(body.kind)} ${String(body.apiVersion)}`) {
    case 'hashedrekord 0.0.1':
    case 'rekord 0.0.1': {
      const signature = record(spec.signature);
      const publicKey = record(signature?.publicKey);
      return {
        ...entry,
        signature: typeof signature?.content === 'string' ? signature.content : undefined,
        hash: hashOf(record(spec.data)?.hash),
        signers: [pemSigner(publicKey?.content)],
      };
    }
    case 'intoto 0.0.1':
      return { ...entry, hash: hashOf(record(spec.content)?.hash), signers: [pemSigner(spec.publicKey)] };
    case 'intoto 0.0.2': {
      const content = record(spec.content);
      const signatures = list(record(content?.envelope)?.signatures);
      return {
        ...entry,
        hash: hashOf(content?.hash),
        signers: signatures.map((signature) => pemSigner(record(signature)?.publicKey)),
      };
    }
    case 'dsse 0.0.1':
      return {
        ...entry,
        hash: hashOf(spec.envelopeHash),
        signers: list(spec.signatures).map((signature) => pemSigner(record(signature)?.verifier)),
      };
    case 'hashedrekord 0.0.2':
      return {
        ...entry,
        signers: [derSigner(record(record(spec.hashedRekordV002)?.signature)?.verifier)],
      };
    case 'dsse 0.0.2':
      return {
        ...entry,
        signers: list(record(spec.dsseV002)?.signatures).map((signature) =>
          derSigner(record(signature)?.verifier),
        ),
      };
    default:
      return { ...entry, signers: [] };
  }
}

/** A `.sig` layer's entry: a v1 `hashedrekord` or `rekord` 0.0.1 body (base64), or why it is not one. */
export function readSignatureEntry(base64Body: string): RekorEntryBody | string {
  const entry = parseRekorEntryBody(Buffer.from(base64Body, 'base64'));
  if (typeof entry === 'string') return entry;
  const kind = typeof entry.kind === 'string' ? entry.kind : '';
  const apiVersion = typeof entry.apiVersion === 'string' ? entry.apiVersion : '';
  if ((kind !== 'hashedrekord' && kind !== 'rekord') || apiVersion !== '0.0.1') {
    return `the Rekor entry is of kind ${kind || '(none)'} ${apiVersion}, not a hashedrekord or rekord 0.0.1 signature entry`;
  }
  return entry;
}

/** Who signed: the key, and the certificate when the signature was made with one. */
export interface EntrySigner {
  readonly key: KeyObject;
  readonly certificate: X509Certificate | undefined;
}

/**
 * cosign's body checks for a `.sig` entry: it records this very signature (string-equal base64),
 * the sha256 of these payload bytes, and this signer (`certificate` when signed with one, else the key).
 */
export function signatureEntryMismatch(
  entry: RekorEntryBody,
  signed: EntrySigner & { readonly signature: string | undefined; readonly payload: Uint8Array },
): string | undefined {
  if (signed.signature !== undefined && entry.signature !== signed.signature) {
    return 'invalid transparency-log proof: the Rekor entry records another signature';
  }
  const digest = createHash('sha256').update(signed.payload).digest('hex');
  const recordedSha256 = entry.hash?.algorithm === 'sha256' ? entry.hash.value : undefined;
  if (recordedSha256 !== digest) {
    return `invalid transparency-log proof: the Rekor entry is for payload sha256:${recordedSha256 ?? '(none)'}, not sha256:${digest}`;
  }
  const [recorded] = entry.signers;
  if (!recorded) return 'invalid transparency-log proof: the Rekor entry names no readable public key';
  return signerMismatch(recorded, signed, 'invalid transparency-log proof: ');
}

/**
 * A `.att` layer's entry (base64 body): an `intoto` (0.0.1, 0.0.2) or `dsse` (0.0.1) entry whose
 * envelope hash is the sha256 of the layer bytes and whose every key is the signer's.
 */
export function attestationEntryMismatch(
  base64Body: string,
  envelopeBytes: Uint8Array,
  signer: EntrySigner,
): string | undefined {
  const entry = parseRekorEntryBody(Buffer.from(base64Body, 'base64'));
  if (typeof entry === 'string') return entry;
  const entryType = `${String(entry.kind)} ${String(entry.apiVersion)}`;
  if (entryType !== 'intoto 0.0.1' && entryType !== 'intoto 0.0.2' && entryType !== 'dsse 0.0.1') {
    return `the Rekor entry is of kind ${entryType}, not an intoto or dsse attestation entry`;
  }
  const digest = createHash('sha256').update(envelopeBytes).digest('hex');
  const recordedHash = entry.hash?.value;
  if (entry.hash?.algorithm !== 'sha256' || recordedHash !== digest) {
    return `the Rekor entry is for envelope sha256:${recordedHash ?? '(none)'}, not sha256:${digest}`;
  }
  if (entry.signers.length === 0) return 'the Rekor entry names no public key';
  for (const recorded of entry.signers) {
    if (!recorded) return 'the Rekor entry names no readable public key';
    const mismatch = signerMismatch(recorded, signer, '');
    if (mismatch) return mismatch;
  }
  return undefined;
}

/**
 * cosign's `comparePublicKey` for a bundle's log entry (its canonicalized body): the entry names
 * signers, and every one has this key.
 */
export function entryNamesOnly(body: Uint8Array, key: KeyObject): boolean {
  const entry = parseRekorEntryBody(body);
  if (typeof entry === 'string' || entry.signers.length === 0) return false;
  const expected = keyFingerprint(key);
  return entry.signers.every((recorded) => recorded?.fingerprint === expected);
}

function signerMismatch(recorded: RecordedSigner, signer: EntrySigner, prefix: string): string | undefined {
  if (recorded.certificate && signer.certificate && !recorded.certificate.equals(signer.certificate)) {
    return `${prefix}the Rekor entry was made with another certificate`;
  }
  if (recorded.fingerprint !== keyFingerprint(signer.key)) {
    return `${prefix}the Rekor entry was made with another public key`;
  }
  return undefined;
}

/** A v1 signer: a base64 PEM, of a certificate or a public key. */
function pemSigner(base64Pem: unknown): RecordedSigner | undefined {
  if (typeof base64Pem !== 'string') return undefined;
  const pem = Buffer.from(base64Pem, 'base64').toString('utf8');
  if (!pem) return undefined;
  try {
    if (pem.includes('CERTIFICATE')) {
      const certificate = X509Certificate.parse(pem.trim());
      return { fingerprint: keyFingerprint(certificate.publicKey), certificate };
    }
    return { fingerprint: keyFingerprint(createPublicKey(pem)), certificate: undefined };
  } catch {
    return undefined;
  }
}

/** A Rekor v2 verifier: `{x509Certificate: {rawBytes}}` or `{publicKey: {rawBytes}}`, base64 DER. */
function derSigner(verifier: unknown): RecordedSigner | undefined {
  const material = record(verifier);
  const certificate = record(material?.x509Certificate)?.rawBytes;
  const publicKey = record(material?.publicKey)?.rawBytes;
  try {
    if (typeof certificate === 'string' && certificate) {
      const parsed = X509Certificate.parse(Buffer.from(certificate, 'base64'));
      return { fingerprint: keyFingerprint(parsed.publicKey), certificate: parsed };
    }
    if (typeof publicKey === 'string' && publicKey) {
      const key = createPublicKey({ key: Buffer.from(publicKey, 'base64'), format: 'der', type: 'spki' });
      return { fingerprint: keyFingerprint(key), certificate: undefined };
    }
  } catch {
    return undefined;
  }
  return undefined;
}

function hashOf(value: unknown): RekorEntryBody['hash'] {
  const hash = record(value);
  if (!hash) return undefined;
  return {
    algorithm: hash.algorithm,
    value: typeof hash.value === 'string' ? hash.value.toLowerCase() : undefined,
  };
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function list(value: unknown): readonly unknown[] {
  return Array.isArray(value) ? value : [];
}
