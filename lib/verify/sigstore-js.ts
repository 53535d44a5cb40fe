/**
 * The adapter around @sigstore/verify: it checks a bundle's transparency-log entries (SET,
 * inclusion proof, checkpoint, body against the signature) and RFC 3161 timestamps, with the
 * signer imagegate already checked standing in as a public key. Evidence that is not required and
 * does not verify is dropped and the check run again, rather than failing the bundle.
 */
import type { KeyObject } from 'node:crypto';
import { VerificationError, Verifier, type SignedEntity } from '@sigstore/verify';
import { describeError } from '../errors';
import type { SigningTime } from './certificates';
import { Stage, type StageFailure } from '../model/verification';
import { entryNamesOnly } from './rekor-entries';
import type { AttestorCheck } from './spec';
import { readGenTime, TimestampUnreadableError, withReadableGenTime } from './timestamp';
import { trustMaterialOf } from './trust-roots';

/**
 * The entity with its RFC 3161 timestamps' genTime read by imagegate (@sigstore/core cannot read
 * 1, 2 or 4+ fractional digits). A timestamp whose genTime is unreadable fails the bundle when the
 * policy requires timestamps, and is left out otherwise, like any timestamp that does not verify.
 */
export function withReadableTimestamps(
  entity: SignedEntity,
  check: AttestorCheck,
): SignedEntity | StageFailure {
  const timestamps: SignedEntity['timestamps'] = [];
  for (const timestamp of entity.timestamps) {
    if (timestamp.$case !== 'timestamp-authority') {
      timestamps.push(timestamp);
      continue;
    }
    const readable = withReadableGenTime(timestamp.timestamp);
    try {
      readGenTime(readable);
    } catch (error) {
      if (!(error instanceof TimestampUnreadableError)) throw error;
      if (check.timestamps.required) {
        return {
          stage: Stage.Timestamp,
          failure: 'UNREADABLE_TIMESTAMP',
          reason: `invalid RFC 3161 timestamp: ${error.message}`,
        };
      }
      continue;
    }
    timestamps.push({ ...timestamp, timestamp: readable });
  }
  return { ...entity, timestamps };
}

/**
 * Runs @sigstore/verify on the entity with the already-checked key as its signer (the chain,
 * SCTs and identity are imagegate's), for the log entries and timestamps. Evidence that is not
 * required and does not verify is left out rather than failing the bundle.
 */
export function verifyWithSigstore(
  entity: SignedEntity,
  key: KeyObject,
  check: AttestorCheck,
): { readonly times: SigningTime[] } | StageFailure {
  const hasLog = entity.tlogEntries.length > 0;
  if (check.tlog.required && !hasLog) {
    return {
      stage: Stage.Log,
      failure: 'LOG',
      reason: 'missing transparency-log proof: the Sigstore bundle has no Rekor entry',
    };
  }
  const hasTimestamp = entity.timestamps.some((timestamp) => timestamp.$case === 'timestamp-authority');
  if (check.timestamps.required && !hasTimestamp) {
    return {
      stage: Stage.Timestamp,
      failure: 'TIMESTAMP',
      reason: "missing RFC 3161 timestamp: the policy's ctlog.tsaCertChain requires one",
    };
  }
  const material = trustMaterialOf(
    {
      certificateAuthorities: [],
      timestampAuthorities: check.timestamps.authorities.map((authority) => ({
        certChain: authority.certChain,
        validFor: authority.validFor,
        uri: authority.name,
        source: authority.name,
      })),
      tlogs: check.tlog.logs.map((log) => ({ ...log, logID: log.logID ?? log.keyId, source: log.baseURL })),
      ctlogs: [],
    },
    () => ({ publicKey: key, validFor: () => true }),
  );
  const content = entity.signature;
  const keyed = (useLog: boolean, useTimestamps: boolean): SignedEntity => ({
    signature: {
      signature: content.signature,
      compareSignature: (signature) => content.compareSignature(signature),
      compareDigest: (digest) => content.compareDigest(digest),
      compareSignedDigest: (digest) => content.compareSignedDigest(digest),
      // Checked above with the attestor's hash algorithm.
      verifySignature: () => true,
    },
    key: { $case: 'public-key', hint: 'imagegate' },
    tlogEntries: useLog ? entity.tlogEntries : [],
    timestamps: entity.timestamps.filter((timestamp) =>
      timestamp.$case === 'transparency-log' ? useLog : useTimestamps,
    ),
  });
  const verifier = new Verifier(material, {
    tlogThreshold: check.tlog.required ? 1 : 0,
    ctlogThreshold: 0,
    timestampThreshold: 0,
  });
  let useLog = hasLog;
  let useTimestamps = hasTimestamp;
  for (;;) {
    const candidate = keyed(useLog, useTimestamps);
    try {
      verifier.verify(candidate);
    } catch (error) {
      const code = error instanceof VerificationError ? error.code : 'ERROR';
      const message = describeError(error);
      if (code.startsWith('TLOG')) {
        if (check.tlog.required)
          return { stage: Stage.Log, failure: 'LOG', reason: `invalid transparency-log proof: ${message}` };
        if (useLog) {
          useLog = false;
          continue;
        }
      }
      if (code === 'TIMESTAMP_ERROR') {
        if (check.timestamps.required)
          return {
            stage: Stage.Timestamp,
            failure: 'TIMESTAMP',
            reason: `invalid RFC 3161 timestamp: ${message}`,
          };
        if (useTimestamps) {
          useTimestamps = false;
          continue;
        }
      }
      return {
        stage: Stage.Signature,
        failure: 'INVALID_SIGNATURE',
        reason: `invalid signature: ${message}`,
      };
    }
    const times = signingTimes(candidate);
    if (useLog) {
      const mismatch = logKeyMismatch(candidate, key) ?? logWindowMismatch(candidate, check, times);
      if (mismatch) {
        if (check.tlog.required) return { stage: Stage.Log, failure: 'LOG', reason: mismatch };
        useLog = false;
        continue;
      }
    }
    return { times };
  }
}

/** The times verified evidence gives: Rekor integrated times (with a SET) and RFC 3161 times. */
function signingTimes(entity: SignedEntity): SigningTime[] {
  return entity.timestamps.flatMap((timestamp): SigningTime[] => {
    if (timestamp.$case === 'timestamp-authority') {
      return [{ time: timestamp.timestamp.signingTime, source: 'RFC 3161 timestamp' }];
    }
    const entry = timestamp.tlogEntry;
    return entry.inclusionPromise
      ? [{ time: new Date(Number(entry.integratedTime) * 1000), source: 'Rekor integrated time' }]
      : [];
  });
}

/** cosign's `comparePublicKey`, which sigstore-js leaves out: every log entry names this signer. */
function logKeyMismatch(entity: SignedEntity, key: KeyObject): string | undefined {
  for (const entry of entity.tlogEntries) {
    if (!entryNamesOnly(entry.canonicalizedBody, key)) {
      return 'invalid transparency-log proof: the Rekor entry was made with another public key';
    }
  }
  return undefined;
}

/**
 * The log key must have been valid when the entry was made (sigstore-js checks this for SETs
 * only): at the integrated time, or for entries without one (Rekor v2), at the signing times.
 */
function logWindowMismatch(
  entity: SignedEntity,
  check: AttestorCheck,
  times: readonly SigningTime[],
): string | undefined {
  for (const entry of entity.tlogEntries) {
    const id = entry.logId.keyId;
    const logs = check.tlog.logs.filter((log) => (log.logID ?? log.keyId).equals(id) || log.keyId.equals(id));
    const at = entry.inclusionPromise
      ? [new Date(Number(entry.integratedTime) * 1000)]
      : times.map((signing) => signing.time);
    const valid = logs.some((log) =>
      at.every((time) => log.validFor.start <= time && time <= log.validFor.end),
    );
    if (!valid) {
      return `invalid transparency-log proof: the key of log ${id.toString('hex')} was not valid when the entry was made`;
    }
  }
  return undefined;
}
