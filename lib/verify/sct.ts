import type { KeyObject } from 'node:crypto';
import {
  ByteStream,
  crypto as sigstoreCrypto,
  EXTENSION_OID_SCT,
  X509SCTExtension,
  type X509Certificate,
} from '@sigstore/core';

/** A certificate-transparency log: its key and when that key was trusted. */
export interface CtLog {
  /** sha256 of the log's DER public key: the `logID` an SCT names. */
  readonly keyId: Buffer;
  readonly publicKey: KeyObject;
  readonly validFor: { readonly start: Date; readonly end: Date };
}

export type SctResult =
  | { readonly ok: true; readonly verified: number }
  | { readonly ok: false; readonly missing: boolean; readonly reason: string };

/**
 * Verifies the SCTs embedded in a Fulcio certificate (RFC 6962 §3.2: the precertificate TBS
 * without the SCT extension, prefixed with the issuer key hash) against trusted CT logs, as
 * cosign's `VerifyEmbeddedSCT`. At least one SCT must come from a trusted log and verify; an SCT
 * naming a trusted log that does not verify makes the certificate fail.
 */
export function verifyEmbeddedScts(
  leaf: X509Certificate,
  issuer: X509Certificate | undefined,
  logs: readonly CtLog[],
): SctResult {
  const clone = leaf.clone();
  const index = clone.extensions.findIndex((extension) => extension.subs[0]?.toOID() === EXTENSION_OID_SCT);
  const extension = clone.extensions[index];
  if (!extension) {
    return {
      ok: false,
      missing: true,
      reason: 'missing certificate transparency proof: the certificate has no embedded SCT',
    };
  }
  if (!issuer) {
    return { ok: false, missing: false, reason: 'invalid SCT: the issuing certificate is unknown' };
  }
  let scts;
  try {
    scts = new X509SCTExtension(extension).signedCertificateTimestamps;
  } catch {
    return { ok: false, missing: false, reason: 'invalid SCT: the SCT extension is malformed' };
  }
  if (scts.length === 0) {
    return {
      ok: false,
      missing: true,
      reason: 'missing certificate transparency proof: the certificate has no embedded SCT',
    };
  }
  clone.extensions.splice(index, 1);
  const preCert = new ByteStream();
  preCert.appendView(sigstoreCrypto.digest('sha256', issuer.publicKey));
  const tbs = clone.tbsCertificate.toDER();
  preCert.appendUint24(tbs.length);
  preCert.appendView(tbs);

  let verified = 0;
  for (const sct of scts) {
    const candidates = logs.filter(
      (log) =>
        log.keyId.equals(sct.logID) && log.validFor.start <= sct.datetime && sct.datetime <= log.validFor.end,
    );
    if (candidates.length === 0) continue;
    if (!candidates.some((log) => sct.verify(preCert.buffer, log.publicKey))) {
      return {
        ok: false,
        missing: false,
        reason: `invalid SCT: the signature of CT log ${sct.logID.toString('hex')} does not verify`,
      };
    }
    verified++;
  }
  if (verified === 0) {
    return {
      ok: false,
      missing: false,
      reason: `invalid SCT: no embedded SCT is from a trusted CT log (logs ${scts
        .map((sct) => sct.logID.toString('hex'))
        .join(', ')})`,
    };
  }
  return { ok: true, verified };
}
