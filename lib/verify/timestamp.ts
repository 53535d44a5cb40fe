import { RFC3161Timestamp, X509Certificate, type ASN1Obj } from '@sigstore/core';
import { describeError, ImagegateError } from '../errors';
import {
  certificateKey,
  checkPathValidity,
  EKU_TIME_STAMPING,
  verifyCertificatePath,
  type CertificateAuthoritySet,
} from './certificates';

/** A timestamp whose `genTime` cannot be read: the TSA wrote something that is not a time. */
export class TimestampUnreadableError extends ImagegateError<'UNREADABLE_TIMESTAMP'> {
  constructor(genTime: string | undefined, options?: { cause?: unknown }) {
    super(
      'UNREADABLE_TIMESTAMP',
      genTime === undefined
        ? 'the timestamp has no readable genTime (RFC 3161 TSTInfo)'
        : `the timestamp's genTime ${JSON.stringify(genTime.slice(0, 40))} is unreadable (expected a GeneralizedTime YYYYMMDDhhmmss[.fraction]Z)`,
      options,
    );
  }
}

/**
 * RFC 3161 §2.4.2 genTime: UTC, seconds always, any number of fractional digits (DER drops
 * trailing zeros, so a millisecond TSA writes 0 to 3 of them). Trailing zeros are accepted too.
 */
const GENERALIZED_TIME = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d+))?Z$/;

/**
 * A timestamp's `genTime`, to the millisecond, read by imagegate rather than by @sigstore/core,
 * whose parser accepts only no fraction or exactly three digits
 * (docs/upstream/sigstore-core-gentime.md). Throws {@link TimestampUnreadableError}.
 */
export function readGenTime(timestamp: RFC3161Timestamp): Date {
  let field: ASN1Obj | undefined;
  try {
    field = timestamp.tstInfo.root.subs[4];
  } catch (error) {
    throw new TimestampUnreadableError(undefined, { cause: error });
  }
  if (!field?.tag.isGeneralizedTime() || field.subs.length > 0) throw new TimestampUnreadableError(undefined);
  const text = field.value.toString('latin1');
  const match = GENERALIZED_TIME.exec(text);
  if (!match) throw new TimestampUnreadableError(text);
  const fields = match.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const [year, month, day, hour, minute, second] = fields;
  const milliseconds = Number((match[7] ?? '').padEnd(3, '0').slice(0, 3));
  const time = new Date(Date.UTC(year, month - 1, day, hour, minute, second, milliseconds));
  // Date.UTC rolls 2026-02-30 over to March 2: a field out of range is not a time.
  const read = [
    time.getUTCFullYear(),
    time.getUTCMonth() + 1,
    time.getUTCDate(),
    time.getUTCHours(),
    time.getUTCMinutes(),
    time.getUTCSeconds(),
  ];
  if (read.some((value, index) => value !== fields[index])) throw new TimestampUnreadableError(text);
  return time;
}

/** @sigstore/core's timestamp with {@link readGenTime} as its `signingTime`, for code that reads it (@sigstore/verify). */
class ReadableGenTimeTimestamp extends RFC3161Timestamp {
  override get signingTime(): Date {
    return readGenTime(this);
  }
}

/** `timestamp`, reading its genTime with {@link readGenTime}; same token, same bytes, same checks otherwise. */
export function withReadableGenTime(timestamp: RFC3161Timestamp): RFC3161Timestamp {
  return timestamp instanceof ReadableGenTimeTimestamp
    ? timestamp
    : new ReadableGenTimeTimestamp(timestamp.root);
}

/**
 * A timestamp authority: its signing certificate first, then the chain up to its root. A chain
 * without the signing certificate (only CAs, as Kyverno's `tsaCertChain` allows) trusts the
 * signing certificate embedded in the token when it chains to those CAs.
 */
export interface TimestampAuthority {
  readonly certChain: readonly X509Certificate[];
  readonly validFor: { readonly start: Date; readonly end: Date };
  readonly name: string;
}

export type TimestampResult =
  | { readonly ok: true; readonly time: Date; readonly authority: string }
  | { readonly ok: false; readonly reason: string };

/** Why a timestamp annotation cannot be used: `unreadableGenTime` when only its genTime is at fault. */
export interface TimestampAnnotationProblem {
  readonly problem: string;
  readonly unreadableGenTime: boolean;
}

/** Reads the annotation's DER TimeStampResp; the problem when it is not one. */
export function parseTimestampAnnotation(annotation: string): RFC3161Timestamp | TimestampAnnotationProblem {
  try {
    const value = JSON.parse(annotation) as { SignedRFC3161Timestamp?: unknown } | null;
    if (typeof value?.SignedRFC3161Timestamp !== 'string') {
      return {
        problem: 'the RFC 3161 timestamp annotation has no SignedRFC3161Timestamp',
        unreadableGenTime: false,
      };
    }
    const timestamp = withReadableGenTime(
      RFC3161Timestamp.parse(Buffer.from(value.SignedRFC3161Timestamp, 'base64')),
    );
    readGenTime(timestamp);
    return timestamp;
  } catch (error) {
    if (error instanceof TimestampUnreadableError) return { problem: error.message, unreadableGenTime: true };
    return {
      problem: `the RFC 3161 timestamp is unreadable: ${describeError(error)}`,
      unreadableGenTime: false,
    };
  }
}

/**
 * Verifies an RFC 3161 timestamp over `data` (for cosign signatures: the decoded signature
 * bytes) against trusted timestamp authorities, as sigstore-js and sigstore-go do: an authority
 * valid at the signing time whose signing certificate is the token's signer, chains to the
 * authority's root with the timestamping usage and is valid at that time, and whose key verifies
 * the token over this message imprint.
 */
export function verifyTimestamp(
  timestamp: RFC3161Timestamp,
  data: Buffer,
  authorities: readonly TimestampAuthority[],
): TimestampResult {
  let time: Date;
  try {
    time = readGenTime(timestamp);
  } catch (error) {
    return { ok: false, reason: `invalid RFC 3161 timestamp: ${describeError(error)}` };
  }
  let reason = `invalid RFC 3161 timestamp: no trusted timestamp authority signed it (at ${time.toISOString()})`;
  for (const authority of authorities) {
    if (time < authority.validFor.start || time > authority.validFor.end) continue;
    const [first, ...rest] = authority.certChain;
    if (!first) continue;
    const withSigner = !first.isCA;
    const cas = withSigner ? rest : authority.certChain;
    const signers = withSigner ? [first] : embeddedCertificates(timestamp);
    const signer = signers.find(
      (certificate) =>
        certificate.serialNumber.equals(timestamp.signerSerialNumber) &&
        certificate.issuer.equals(timestamp.signerIssuer),
    );
    if (!signer) continue;
    const set: CertificateAuthoritySet = {
      anchors: cas.length > 0 ? cas.slice(-1) : [signer],
      intermediates: cas.slice(0, -1),
      name: authority.name,
    };
    const path = verifyCertificatePath(signer, signers, [set], EKU_TIME_STAMPING);
    if (!path.ok) {
      reason = `invalid RFC 3161 timestamp: ${path.reason}`;
      continue;
    }
    const expired = checkPathValidity(path.paths, [{ time, source: 'RFC 3161 timestamp' }]);
    if (expired) {
      reason = `invalid RFC 3161 timestamp: timestamp authority ${authority.name}: ${expired}`;
      continue;
    }
    try {
      timestamp.verify(data, certificateKey(signer));
      return { ok: true, time, authority: authority.name };
    } catch (error) {
      reason = `invalid RFC 3161 timestamp: ${describeError(error)}`;
    }
  }
  return { ok: false, reason };
}

/** The certificates a timestamp token carries (CMS SignedData `certificates`). */
function embeddedCertificates(timestamp: RFC3161Timestamp): X509Certificate[] {
  try {
    // TimeStampResp { status, timeStampToken ContentInfo { contentType, [0] { SignedData } } }
    const signedData = timestamp.root.subs[1]?.subs[1]?.subs[0];
    const certificates = signedData?.subs.find((item) => item.tag.isContextSpecific(0));
    return (certificates?.subs ?? []).map((certificate) =>
      X509Certificate.parse(Buffer.from(certificate.toDER())),
    );
  } catch {
    return [];
  }
}
