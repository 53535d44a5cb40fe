import { RFC3161Timestamp, X509Certificate } from '@sigstore/core';
import { describeError } from '../errors';
import {
  certificateKey,
  checkPathValidity,
  EKU_TIME_STAMPING,
  verifyCertificatePath,
  type CertificateAuthoritySet,
} from './certificates';

/** The `dev.sigstore.cosign/rfc3161timestamp` layer annotation: `{"SignedRFC3161Timestamp": "<base64 DER>"}`. */
export const COSIGN_RFC3161_ANNOTATION = 'dev.sigstore.cosign/rfc3161timestamp';

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

/** Reads the annotation's DER TimeStampResp; a reason when it is not one. */
export function parseTimestampAnnotation(annotation: string): RFC3161Timestamp | string {
  try {
    const value = JSON.parse(annotation) as { SignedRFC3161Timestamp?: unknown } | null;
    if (typeof value?.SignedRFC3161Timestamp !== 'string') {
      return 'the RFC 3161 timestamp annotation has no SignedRFC3161Timestamp';
    }
    const timestamp = RFC3161Timestamp.parse(Buffer.from(value.SignedRFC3161Timestamp, 'base64'));
    void timestamp.signingTime;
    return timestamp;
  } catch (error) {
    return `the RFC 3161 timestamp is unreadable: ${describeError(error)}`;
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
    time = timestamp.signingTime;
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
