import { ASN1Obj, type X509Certificate } from '@sigstore/core';
import { compileWildcard, type WildcardMatcher } from '../model/wildcard';

/** Fulcio's certificate extensions (https://github.com/sigstore/fulcio/blob/main/docs/oid-info.md). */
export const FULCIO_EXTENSIONS: Readonly<Record<string, string>> = {
  oidcIssuer: '1.3.6.1.4.1.57264.1.1',
  githubWorkflowTrigger: '1.3.6.1.4.1.57264.1.2',
  githubWorkflowSha: '1.3.6.1.4.1.57264.1.3',
  githubWorkflowName: '1.3.6.1.4.1.57264.1.4',
  githubWorkflowRepository: '1.3.6.1.4.1.57264.1.5',
  githubWorkflowRef: '1.3.6.1.4.1.57264.1.6',
  issuer: '1.3.6.1.4.1.57264.1.8',
  buildSignerURI: '1.3.6.1.4.1.57264.1.9',
  buildSignerDigest: '1.3.6.1.4.1.57264.1.10',
  runnerEnvironment: '1.3.6.1.4.1.57264.1.11',
  sourceRepositoryURI: '1.3.6.1.4.1.57264.1.12',
  sourceRepositoryDigest: '1.3.6.1.4.1.57264.1.13',
  sourceRepositoryRef: '1.3.6.1.4.1.57264.1.14',
  sourceRepositoryIdentifier: '1.3.6.1.4.1.57264.1.15',
  sourceRepositoryOwnerURI: '1.3.6.1.4.1.57264.1.16',
  sourceRepositoryOwnerIdentifier: '1.3.6.1.4.1.57264.1.17',
  buildConfigURI: '1.3.6.1.4.1.57264.1.18',
  buildConfigDigest: '1.3.6.1.4.1.57264.1.19',
  buildTrigger: '1.3.6.1.4.1.57264.1.20',
  runInvocationURI: '1.3.6.1.4.1.57264.1.21',
  sourceRepositoryVisibilityAtSigning: '1.3.6.1.4.1.57264.1.22',
};
const OID_ISSUER_V1 = '1.3.6.1.4.1.57264.1.1';
const OID_ISSUER_V2 = '1.3.6.1.4.1.57264.1.8';
const OID_SUBJECT_ALT_NAME = '2.5.29.17';
/** Fulcio's otherName SAN for usernames. */
const OID_OTHERNAME_USERNAME = '1.3.6.1.4.1.57264.1.7';
/** Extensions 1.1–1.6 hold the raw string; 1.8 onwards a DER UTF8String. */
const RAW_VALUE_OIDS = new Set([
  OID_ISSUER_V1,
  '1.3.6.1.4.1.57264.1.2',
  '1.3.6.1.4.1.57264.1.3',
  '1.3.6.1.4.1.57264.1.4',
  '1.3.6.1.4.1.57264.1.5',
  '1.3.6.1.4.1.57264.1.6',
]);

/** A Kyverno wildcard pattern (`*`, `?`) or an anchored regular expression, compiled at policy load. */
export type ValueMatcher =
  | { readonly kind: 'wildcard'; readonly pattern: string; readonly matcher: WildcardMatcher }
  | { readonly kind: 'regexp'; readonly pattern: string; readonly regexp: RegExp };

/**
 * Who must have signed (`keyless` subject, issuer, additionalExtensions). Unset parts are not
 * checked. `subject` and `subjectRegExp` together: either may match (as in Kyverno); `issuer`
 * and `issuerRegExp` together: both must.
 */
export interface IdentityPolicy {
  readonly subject: readonly ValueMatcher[];
  readonly issuer: readonly ValueMatcher[];
  readonly extensions: readonly {
    readonly name: string;
    readonly oid: string;
    readonly matcher: ValueMatcher;
  }[];
}

export const NO_IDENTITY: IdentityPolicy = { subject: [], issuer: [], extensions: [] };

/**
 * A regular expression that must match a whole value. Unlike cosign's
 * `--certificate-identity-regexp` (Go `MatchString`, unanchored), imagegate anchors it: an
 * unanchored `https://github.com/acme/` would also accept `https://evil.example/?https://github.com/acme/`.
 * Throws SyntaxError for an invalid expression.
 */
export function anchoredRegExp(pattern: string): ValueMatcher {
  return { kind: 'regexp', pattern, regexp: new RegExp(`^(?:${pattern})$`, 's') };
}

/** A Kyverno wildcard pattern, compiled once. */
export function wildcard(pattern: string): ValueMatcher {
  return { kind: 'wildcard', pattern, matcher: compileWildcard(pattern) };
}

function matches(matcher: ValueMatcher, value: string): boolean {
  return matcher.kind === 'wildcard' ? matcher.matcher.matches(value) : matcher.regexp.test(value);
}

function describeMatcher(matcher: ValueMatcher): string {
  return matcher.kind === 'wildcard' ? JSON.stringify(matcher.pattern) : `/^(?:${matcher.pattern})$/`;
}

/**
 * Every subject alternative name of a certificate, as cosign lists them: emails, URIs, DNS
 * names, IP addresses and Fulcio's username otherName.
 */
export function subjectAlternativeNames(certificate: X509Certificate): string[] {
  const extension = certificate.extension(OID_SUBJECT_ALT_NAME);
  if (!extension) return [];
  try {
    const names = extension.valueObj.subs[0]?.subs ?? [];
    return names.flatMap((name) => {
      if (!name.tag.isContextSpecific()) return [];
      switch (name.tag.number) {
        case 1: // rfc822Name
        case 2: // dNSName
        case 6: // uniformResourceIdentifier
          return [name.value.toString('utf8')];
        case 7: // iPAddress
          return [ipAddress(name.value)];
        case 0: {
          // otherName: type-id OID, [0] EXPLICIT value (Fulcio: UTF8String)
          const oid = name.subs[0]?.toOID();
          const value = name.subs[1]?.subs[0]?.value.toString('utf8');
          return oid === OID_OTHERNAME_USERNAME && value !== undefined ? [value] : [];
        }
        default:
          return [];
      }
    });
  } catch {
    return [];
  }
}

function ipAddress(bytes: Buffer): string {
  if (bytes.length === 4) return [...bytes].join('.');
  if (bytes.length === 16) {
    const groups = Array.from({ length: 8 }, (_, index) => bytes.readUInt16BE(index * 2).toString(16));
    // The URL parser writes the canonical (compressed) form, as Go's net.IP.String does.
    return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
  }
  return bytes.toString('hex');
}

/**
 * The value of a Fulcio extension: the raw string for 1.1–1.6, the DER UTF8String for 1.8 and
 * later; `undefined` when absent.
 */
export function fulcioExtension(certificate: X509Certificate, oid: string): string | undefined {
  const extension = certificate.extension(oid);
  if (!extension) return undefined;
  const raw = extension.value;
  if (RAW_VALUE_OIDS.has(oid)) return raw.toString('utf8');
  try {
    return ASN1Obj.parseBuffer(Buffer.from(raw)).value.toString('utf8');
  } catch {
    return raw.toString('utf8');
  }
}

/** The OIDC issuer: extension 1.8 when present, else the deprecated 1.1 (what sigstore-go reads). */
export function oidcIssuer(certificate: X509Certificate): string | undefined {
  return fulcioExtension(certificate, OID_ISSUER_V2) ?? fulcioExtension(certificate, OID_ISSUER_V1);
}

/**
 * Checks a signing certificate against the policy's identity. Returns the mismatch, showing what
 * was expected and what the certificate holds, or `undefined` when it matches.
 */
export function identityMismatch(certificate: X509Certificate, policy: IdentityPolicy): string | undefined {
  if (policy.subject.length > 0) {
    const names = subjectAlternativeNames(certificate);
    if (!policy.subject.some((matcher) => names.some((name) => matches(matcher, name)))) {
      return `signer identity mismatch: expected subject ${policy.subject.map(describeMatcher).join(' or ')}, found ${
        names.length > 0
          ? names.map((name) => JSON.stringify(name)).join(', ')
          : 'no subject alternative name'
      }`;
    }
  }
  if (policy.issuer.length > 0) {
    const issuer = oidcIssuer(certificate);
    const failed = policy.issuer.find((matcher) => issuer === undefined || !matches(matcher, issuer));
    if (failed) {
      return `signer identity mismatch: expected issuer ${describeMatcher(failed)}, found ${
        issuer === undefined ? 'no OIDC issuer extension' : JSON.stringify(issuer)
      }`;
    }
  }
  for (const { name, oid, matcher } of policy.extensions) {
    const value = fulcioExtension(certificate, oid);
    if (value === undefined || !matches(matcher, value)) {
      return `signer identity mismatch: expected ${name} ${describeMatcher(matcher)}, found ${
        value === undefined ? `no ${name} extension` : JSON.stringify(value)
      }`;
    }
  }
  return undefined;
}
