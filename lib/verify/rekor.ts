import { createHash, createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { json, X509Certificate } from '@sigstore/core';
import { keyFingerprint } from './certificates';

/** The `dev.sigstore.cosign/bundle` layer annotation: a Rekor v1 entry's signed entry timestamp. */
export const COSIGN_REKOR_BUNDLE_ANNOTATION = 'dev.sigstore.cosign/bundle';

/** A Rekor log key trusted for a time window (from a trust root, or a policy's `rekor.pubkey`). */
export interface RekorLog {
  /** sha256 of the DER public key: the `logID` of the entries it signs. */
  readonly keyId: Buffer;
  /** The ID checkpoints name (Rekor v2 `checkpointKeyId`); `keyId` when unset. */
  readonly logID?: Buffer;
  readonly publicKey: KeyObject;
  readonly validFor: { readonly start: Date; readonly end: Date };
  /** For messages: the log's URL or `the policy's rekor.pubkey`. */
  readonly baseURL: string;
}

/** The legacy Rekor bundle (cosign `RekorBundle`): the SET and the payload it signs. */
export interface RekorBundle {
  readonly signedEntryTimestamp: Buffer;
  readonly body: string;
  readonly integratedTime: number;
  readonly logIndex: number;
  readonly logID: string;
}

export type RekorBundleResult =
  | { readonly ok: true; readonly integratedTime: Date; readonly log: RekorLog; readonly entry: RekorEntry }
  | { readonly ok: false; readonly reason: string };

/** What a Rekor entry body says about the signature it records. */
export interface RekorEntry {
  readonly kind: string;
  readonly apiVersion: string;
  /** base64 signature as recorded (string-compared with the layer's, as cosign does). */
  readonly signature: string | undefined;
  /** `sha256` hex of the signed payload. */
  readonly payloadSha256: string | undefined;
  /** The PEM (certificate or public key) the entry was made with. */
  readonly publicKeyPem: string | undefined;
}

/** Parses the annotation; a reason when it is not a cosign Rekor bundle. */
export function parseRekorBundle(annotation: string): RekorBundle | string {
  let value: unknown;
  try {
    value = JSON.parse(annotation);
  } catch {
    return 'the Rekor bundle annotation is not JSON';
  }
  const bundle = value as { SignedEntryTimestamp?: unknown; Payload?: Record<string, unknown> } | null;
  const payload = bundle?.Payload;
  if (
    typeof bundle?.SignedEntryTimestamp !== 'string' ||
    typeof payload !== 'object' ||
    payload === null ||
    typeof payload.body !== 'string' ||
    !Number.isSafeInteger(payload.integratedTime) ||
    !Number.isSafeInteger(payload.logIndex) ||
    typeof payload.logID !== 'string'
  ) {
    return 'the Rekor bundle annotation lacks SignedEntryTimestamp, body, integratedTime, logIndex or logID';
  }
  return {
    signedEntryTimestamp: Buffer.from(bundle.SignedEntryTimestamp, 'base64'),
    body: payload.body,
    integratedTime: payload.integratedTime as number,
    logIndex: payload.logIndex as number,
    logID: payload.logID,
  };
}

/**
 * Verifies a legacy Rekor bundle offline, as cosign's `VerifyBundle` + sigstore-go's `VerifySET`:
 * the log named by `logID` is trusted and its key was valid at the integrated time, and the SET
 * is its signature over the RFC 8785 canonical JSON of `{body, integratedTime, logID, logIndex}`.
 * The body's content is checked separately ({@link rekorEntryMismatch}).
 */
export function verifyRekorBundle(bundle: RekorBundle, logs: readonly RekorLog[]): RekorBundleResult {
  const set = verifySignedEntryTimestamp(bundle, logs);
  if (!set.ok) return set;
  const entry = parseRekorEntry(bundle.body);
  if (typeof entry === 'string') return { ok: false, reason: `invalid transparency-log proof: ${entry}` };
  return { ...set, entry };
}

/**
 * The SET of a Rekor bundle: signed by a trusted log's key (by logID) that was valid at the
 * integrated time, over the RFC 8785 canonical `{body, integratedTime, logID, logIndex}`. Says
 * nothing of what the entry records (signature and attestation entries are checked by their callers).
 */
export function verifySignedEntryTimestamp(
  bundle: RekorBundle,
  logs: readonly RekorLog[],
): { ok: true; integratedTime: Date; log: RekorLog } | { ok: false; reason: string } {
  const integratedTime = new Date(bundle.integratedTime * 1000);
  const named = logs.filter((log) => log.keyId.toString('hex') === bundle.logID.toLowerCase());
  if (named.length === 0) {
    return {
      ok: false,
      reason: `invalid transparency-log proof: the Rekor entry is from log ${bundle.logID}, which is not a trusted transparency log`,
    };
  }
  const current = named.filter(
    (log) => log.validFor.start <= integratedTime && integratedTime <= log.validFor.end,
  );
  if (current.length === 0) {
    return {
      ok: false,
      reason: `invalid transparency-log proof: the key of log ${bundle.logID} was not valid at the entry's integrated time ${integratedTime.toISOString()}`,
    };
  }
  const canonical = Buffer.from(
    json.canonicalize({
      body: bundle.body,
      integratedTime: bundle.integratedTime,
      logID: bundle.logID,
      logIndex: bundle.logIndex,
    }),
    'utf8',
  );
  const log = current.find((candidate) =>
    verifyWith(candidate.publicKey, canonical, bundle.signedEntryTimestamp),
  );
  if (!log) {
    return {
      ok: false,
      reason: `invalid transparency-log proof: the signed entry timestamp does not verify with the key of log ${bundle.logID} (${named[0]?.baseURL ?? ''})`,
    };
  }
  return { ok: true, integratedTime, log };
}

function verifyWith(key: KeyObject, data: Buffer, signature: Buffer): boolean {
  try {
    return cryptoVerify(key.asymmetricKeyType === 'ed25519' ? null : 'sha256', data, key, signature);
  } catch {
    return false;
  }
}

/** Reads a Rekor v1 `hashedrekord` or `rekord` 0.0.1 body (what cosign logs for `.sig` layers). */
export function parseRekorEntry(base64Body: string): RekorEntry | string {
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(Buffer.from(base64Body, 'base64').toString('utf8')) as Record<string, unknown>;
  } catch {
    return 'the Rekor entry body is not JSON';
  }
  const kind = typeof body.kind === 'string' ? body.kind : '';
  const apiVersion = typeof body.apiVersion === 'string' ? body.apiVersion : '';
  if ((kind !== 'hashedrekord' && kind !== 'rekord') || apiVersion !== '0.0.1') {
    return `the Rekor entry is of kind ${kind || '(none)'} ${apiVersion}, not a hashedrekord or rekord 0.0.1 signature entry`;
  }
  const spec = record(body.spec);
  const signature = record(spec?.signature);
  const hash = record(record(spec?.data)?.hash);
  const publicKey = record(signature?.publicKey)?.content;
  return {
    kind,
    apiVersion,
    signature: typeof signature?.content === 'string' ? signature.content : undefined,
    payloadSha256:
      hash?.algorithm === 'sha256' && typeof hash.value === 'string' ? hash.value.toLowerCase() : undefined,
    publicKeyPem:
      typeof publicKey === 'string' ? Buffer.from(publicKey, 'base64').toString('utf8') : undefined,
  };
}

/**
 * cosign's body checks: the entry records this very signature (string-equal base64), the sha256
 * of these payload bytes, and this signer (`certificate` when signed with one, else the key).
 */
export function rekorEntryMismatch(
  entry: RekorEntry,
  signed: {
    readonly signature: string | undefined;
    readonly payload: Uint8Array;
    readonly key: KeyObject;
    readonly certificate: X509Certificate | undefined;
  },
): string | undefined {
  if (signed.signature !== undefined && entry.signature !== signed.signature) {
    return 'invalid transparency-log proof: the Rekor entry records another signature';
  }
  const digest = createHash('sha256').update(signed.payload).digest('hex');
  if (entry.payloadSha256 !== digest) {
    return `invalid transparency-log proof: the Rekor entry is for payload sha256:${entry.payloadSha256 ?? '(none)'}, not sha256:${digest}`;
  }
  const recorded = entryKey(entry.publicKeyPem);
  if (!recorded) return 'invalid transparency-log proof: the Rekor entry names no readable public key';
  if (recorded.certificate && signed.certificate && !recorded.certificate.equals(signed.certificate)) {
    return 'invalid transparency-log proof: the Rekor entry was made with another certificate';
  }
  if (recorded.fingerprint !== keyFingerprint(signed.key)) {
    return 'invalid transparency-log proof: the Rekor entry was made with another public key';
  }
  return undefined;
}

/** The key (and certificate) of a PEM recorded in a Rekor entry. */
export function entryKey(
  pem: string | undefined,
): { readonly fingerprint: string; readonly certificate: X509Certificate | undefined } | undefined {
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

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}
