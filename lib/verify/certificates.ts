import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { ASN1Obj, X509Certificate } from '@sigstore/core';
import { describeError, ImagegateError } from '../errors';
import {
  DN_ATTRIBUTE_NAMES,
  MAX_NAME_CONSTRAINT_CHECKS,
  rfc5280PathProblem,
  type PathProblem,
} from './rfc5280';

export class CertificateParseError extends ImagegateError<'INVALID_CERTIFICATE'> {}

/** Extended key usages (RFC 5280 §4.2.1.12). */
export const EKU_CODE_SIGNING = '1.3.6.1.5.5.7.3.3';
export const EKU_TIME_STAMPING = '1.3.6.1.5.5.7.3.8';
const EKU_ANY = '2.5.29.37.0';
const OID_EXTENDED_KEY_USAGE = '2.5.29.37';

/** Cosign and Kyverno refuse longer user-supplied chains (CVE-2026-32280). */
export const MAX_CHAIN_CERTIFICATES = 11;
const MAX_PATH_LENGTH = 8;
const MAX_PATH_STEPS = 256;

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/**
 * Every PEM `CERTIFICATE` block of `pem`, parsed. Throws {@link CertificateParseError} when
 * there is none, one does not parse, or there are more than `max`.
 */
export function parseCertificatesPem(pem: string, max = MAX_CHAIN_CERTIFICATES): X509Certificate[] {
  const blocks = pem.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) {
    throw new CertificateParseError(
      'INVALID_CERTIFICATE',
      'no PEM certificate found (expected -----BEGIN CERTIFICATE-----)',
    );
  }
  if (blocks.length > max) {
    throw new CertificateParseError(
      'INVALID_CERTIFICATE',
      `${blocks.length} certificates, at most ${max} are accepted`,
    );
  }
  return blocks.map((block, index) => {
    try {
      const certificate = X509Certificate.parse(block);
      // Touch the fields verification reads so that a malformed certificate fails here.
      void certificate.notBefore;
      void certificate.notAfter;
      createPublicKey({ key: certificate.publicKey, format: 'der', type: 'spki' });
      return certificate;
    } catch (error) {
      throw new CertificateParseError(
        'INVALID_CERTIFICATE',
        `certificate ${index + 1} is unreadable: ${describeError(error)}`,
        { cause: error },
      );
    }
  });
}

/** Like {@link parseCertificatesPem} for registry content: `undefined` instead of throwing. */
export function readCertificatesPem(pem: string | undefined): X509Certificate[] | undefined {
  if (!pem?.trim()) return undefined;
  try {
    return parseCertificatesPem(pem, 100);
  } catch {
    return undefined;
  }
}

/** A certificate's public key. */
export function certificateKey(certificate: X509Certificate): KeyObject {
  return createPublicKey({ key: certificate.publicKey, format: 'der', type: 'spki' });
}

/** sha256 of the DER SubjectPublicKeyInfo: how keys are compared. */
export function keyFingerprint(key: KeyObject | Buffer): string {
  const der = Buffer.isBuffer(key) ? key : key.export({ format: 'der', type: 'spki' });
  return createHash('sha256').update(der).digest('hex');
}

/** The subject's common name (or the whole DN's size) for messages. */
export function describeCertificate(certificate: X509Certificate): string {
  const commonName = /(?:^|,)\s*CN=([^,]+)/.exec(distinguishedName(certificate.subject))?.[1];
  return commonName ? `"${commonName}"` : `serial ${certificate.serialNumber.toString('hex')}`;
}

/**
 * Trust anchors and the intermediates that come with them: one Fulcio CA of a trust root (its
 * last certificate is the anchor), a policy's `roots` (all anchors), or a `certChain`.
 */
export interface CertificateAuthoritySet {
  readonly anchors: readonly X509Certificate[];
  readonly intermediates: readonly X509Certificate[];
  /** When the set is trusted (a trust root's `validFor`); always when unset. */
  readonly validFor?: { readonly start: Date; readonly end: Date };
  /** For messages: `https://fulcio.sigstore.dev (public-good …)`, `the policy's roots`. */
  readonly name: string;
}

export type PathResult =
  | { readonly ok: true; readonly paths: readonly TrustedPath[] }
  | { readonly ok: false; readonly reason: string };

/** A chain from a leaf to an anchor of `authority`, leaf first. */
export interface TrustedPath {
  readonly certificates: readonly X509Certificate[];
  readonly authority: CertificateAuthoritySet;
}

/**
 * Builds every path from `leaf` through `untrusted` intermediates and the authorities' own to
 * one of their anchors, checking signatures, CA flags, path lengths and that every certificate
 * with an extended key usage allows `usage` (as Go's x509 does for cosign). Validity periods are
 * checked separately ({@link checkPathValidity}), at the signing time once it is known.
 */
export function verifyCertificatePath(
  leaf: X509Certificate,
  untrusted: readonly X509Certificate[],
  authorities: readonly CertificateAuthoritySet[],
  usage: string,
): PathResult {
  const paths: TrustedPath[] = [];
  let lastProblem: string | undefined;
  // Bounds the work an attacker-supplied chain can cause (certificates issuing each other).
  const budget = { steps: MAX_PATH_STEPS };
  for (const authority of authorities) {
    const pool = [
      ...untrusted.slice(0, MAX_CHAIN_CERTIFICATES),
      ...authority.intermediates,
      ...authority.anchors,
    ];
    for (const certificates of buildPaths([leaf], pool, authority.anchors, budget)) {
      const problem = checkPath(certificates, usage);
      if (problem) lastProblem = problem;
      else paths.push({ certificates, authority });
    }
  }
  if (paths.length > 0) return { ok: true, paths };
  return {
    ok: false,
    reason:
      lastProblem ??
      `the signing certificate (issued by ${describeName(leaf.issuer)}) does not chain to ${
        authorities.length === 1 ? authorities[0]?.name : `any of ${authorities.length} trusted CAs`
      }`,
  };
}

function* buildPaths(
  path: readonly X509Certificate[],
  pool: readonly X509Certificate[],
  anchors: readonly X509Certificate[],
  budget: { steps: number },
): Generator<X509Certificate[]> {
  const last = path[path.length - 1];
  if (!last || --budget.steps < 0) return;
  if (anchors.some((anchor) => sameCertificate(anchor, last))) {
    yield [...path];
    return;
  }
  if (path.length >= MAX_PATH_LENGTH) return;
  for (const candidate of pool) {
    if (path.some((certificate) => sameCertificate(certificate, candidate))) continue;
    if (!issued(candidate, last)) continue;
    yield* buildPaths([...path, candidate], pool, anchors, budget);
  }
}

const encodings = new WeakMap<X509Certificate, Buffer>();

/**
 * `a.equals(b)` with each DER encoded once: @sigstore/core re-encodes both certificates on every
 * call (about 0.7 ms), and path building compares every candidate with the path and the anchors.
 */
function sameCertificate(a: X509Certificate, b: X509Certificate): boolean {
  if (a === b) return true;
  const encoded = (certificate: X509Certificate) => {
    let der = encodings.get(certificate);
    if (!der) encodings.set(certificate, (der = certificate.root.toDER()));
    return der;
  };
  return encoded(a).equals(encoded(b));
}

/** True when `issuer` (by name, key identifier and signature) issued `subject`. */
function issued(issuer: X509Certificate, subject: X509Certificate): boolean {
  try {
    if (!issuer.subject.equals(subject.issuer)) return false;
    const authorityKeyId = subject.extAuthorityKeyID?.keyIdentifier;
    const subjectKeyId = issuer.extSubjectKeyID?.keyIdentifier;
    if (authorityKeyId && subjectKeyId && !authorityKeyId.equals(subjectKeyId)) return false;
    return subject.verify(issuer);
  } catch {
    return false;
  }
}

function checkPath(path: readonly X509Certificate[], usage: string): string | undefined {
  for (const [index, certificate] of path.entries()) {
    if (index > 0) {
      if (!certificate.isCA) return `issuing certificate ${describeCertificate(certificate)} is not a CA`;
      const pathLength = certificate.extBasicConstraints?.pathLenConstraint;
      if (pathLength !== undefined && pathLength < BigInt(index - 1)) {
        return `issuing certificate ${describeCertificate(certificate)} allows a shorter chain`;
      }
    }
    const usages = extendedKeyUsages(certificate);
    if (usages && !usages.includes(usage) && !usages.includes(EKU_ANY)) {
      const what = index === 0 ? 'the signing certificate' : `CA ${describeCertificate(certificate)}`;
      return `${what} is not for ${usage === EKU_CODE_SIGNING ? 'code signing' : usage === EKU_TIME_STAMPING ? 'timestamping' : usage} (extended key usage)`;
    }
  }
  const problem = rfc5280PathProblem(path);
  return problem && describePathProblem(problem, path);
}

/** The message for an RFC 5280 problem of `path` (lib/verify/rfc5280.ts). */
function describePathProblem(problem: PathProblem, path: readonly X509Certificate[]): string {
  const who = (index: number) => {
    const certificate = path[index];
    if (index === 0 || !certificate) return 'the signing certificate';
    return `${index === path.length - 1 ? 'trusted CA' : 'CA'} ${describeCertificate(certificate)}`;
  };
  const ca = (index: number) => {
    const certificate = path[index];
    return certificate ? describeCertificate(certificate) : 'an issuer';
  };
  switch (problem.kind) {
    case 'unreadable':
      return `${who(problem.index)} is unreadable: ${problem.detail}`;
    case 'unhandled-critical-extension':
      return `${who(problem.index)} has an unknown critical extension ${problem.oid}`;
    case 'explicit-policy':
      return `${who(problem.index)} requires an explicit certificate policy, which imagegate does not check`;
    case 'name-not-permitted':
      return `${who(problem.index)} names ${problem.form} "${problem.name}", outside the name constraints of CA ${ca(problem.ca)} (permitted: ${problem.permitted.map((name) => `"${name}"`).join(', ')})`;
    case 'name-excluded':
      return `${who(problem.index)} names ${problem.form} "${problem.name}", excluded by the name constraints of CA ${ca(problem.ca)} ("${problem.excluded}")`;
    case 'unsupported-constraint':
      return `CA ${ca(problem.ca)} constrains ${problem.form} names in a way imagegate cannot check, and ${who(problem.index)} has one`;
    case 'malformed-name':
      return `${who(problem.index)} names a malformed ${problem.form} "${problem.name}" under the name constraints of CA ${ca(problem.ca)}`;
    case 'too-many-name-checks':
      return `the chain has more names and name constraints than imagegate checks (at most ${MAX_NAME_CONSTRAINT_CHECKS} comparisons)`;
  }
}

/** The extended key usage OIDs, or `undefined` when the certificate has no such extension. */
export function extendedKeyUsages(certificate: X509Certificate): string[] | undefined {
  const extension = certificate.extension(OID_EXTENDED_KEY_USAGE);
  if (!extension) return undefined;
  try {
    return (extension.valueObj.subs[0]?.subs ?? []).map((oid) => oid.toOID());
  } catch {
    return [];
  }
}

/** When a signature was made, and what proves it. */
export interface SigningTime {
  readonly time: Date;
  /** `Rekor integrated time`, `RFC 3161 timestamp`, `current time`. */
  readonly source: string;
}

/**
 * Checks that some trusted path is valid (every certificate, and the authority's trust window)
 * at every signing time. Returns the reason of the path that got furthest, or `undefined`.
 */
export function checkPathValidity(
  paths: readonly TrustedPath[],
  times: readonly SigningTime[],
): string | undefined {
  let reason: string | undefined;
  for (const path of paths) {
    reason = pathValidityProblem(path, times);
    if (!reason) return undefined;
  }
  return reason ?? 'no trusted certificate path';
}

function pathValidityProblem(path: TrustedPath, times: readonly SigningTime[]): string | undefined {
  for (const { time, source } of times) {
    const at = `${time.toISOString()} (${source})`;
    for (const [index, certificate] of path.certificates.entries()) {
      if (certificate.validForDate(time)) continue;
      const period = `valid ${certificate.notBefore.toISOString()} to ${certificate.notAfter.toISOString()}`;
      const expired = time > certificate.notAfter;
      if (index === 0) {
        return expired
          ? `certificate expired at signing time: ${period}, signed at ${at}`
          : `certificate not yet valid at signing time: ${period}, signed at ${at}`;
      }
      return `issuing CA certificate ${describeCertificate(certificate)} was not valid at signing time: ${period}, signed at ${at}`;
    }
    const window = path.authority.validFor;
    if (window && (time < window.start || time > window.end)) {
      return `${path.authority.name} was not trusted at signing time ${at} (trusted ${window.start.toISOString()} to ${window.end.toISOString()})`;
    }
  }
  return undefined;
}

/** An RFC 4514-ish rendering of a DER Name, for messages. */
export function describeName(name: Buffer): string {
  const text = distinguishedName(name);
  return text ? `"${text}"` : 'an empty name';
}

function distinguishedName(name: Buffer): string {
  try {
    // Name ::= SEQUENCE OF RelativeDistinguishedName (SET OF AttributeTypeAndValue); `name` is
    // the SEQUENCE's content.
    const der = Buffer.concat([Buffer.from([0x30]), derLength(name.length), name]);
    return ASN1Obj.parseBuffer(der)
      .subs.flatMap((rdn) =>
        rdn.subs.map((attribute) => {
          const oid = attribute.subs[0]?.toOID() ?? '';
          const value = attribute.subs[1]?.value.toString('utf8') ?? '';
          return `${DN_ATTRIBUTE_NAMES[oid] ?? oid}=${value}`;
        }),
      )
      .join(', ');
  } catch {
    return '';
  }
}

function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest >>= 8) bytes.unshift(rest & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
