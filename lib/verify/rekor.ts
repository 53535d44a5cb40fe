import { verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { json } from '@sigstore/core';
import { readSignatureEntry, type RekorEntryBody } from './rekor-entries';

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
  | {
      readonly ok: true;
      readonly integratedTime: Date;
      readonly log: RekorLog;
      readonly entry: RekorEntryBody;
    }
  | { readonly ok: false; readonly reason: string };

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
 * The body must be a `.sig` entry; what it records is checked separately (rekor-entries.ts).
 */
export function verifyRekorBundle(bundle: RekorBundle, logs: readonly RekorLog[]): RekorBundleResult {
  const set = verifySignedEntryTimestamp(bundle, logs);
  if (!set.ok) return set;
  const entry = readSignatureEntry(bundle.body);
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
