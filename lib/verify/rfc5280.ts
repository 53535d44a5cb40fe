/**
 * The RFC 5280 §6.1 checks a certificate path must pass besides signatures, CA flags (with the
 * issuer's key usage), path lengths and extended key usages (lib/verify/certificates.ts):
 * critical extensions, policy constraints, and name constraints. Extension values and names are
 * decoded with pkijs; the rules follow OpenSSL's `X509_verify_cert` where OpenSSL and Go differ
 * (ADR 12).
 */
import type { X509Certificate } from '@sigstore/core';
import {
  AltName,
  NameConstraints,
  PolicyConstraints,
  RelativeDistinguishedNames,
  type AttributeTypeAndValue,
  type GeneralName,
  type GeneralSubtree,
} from 'pkijs';
import { describeError } from '../errors';

const OID = {
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  nameConstraints: '2.5.29.30',
  certificatePolicies: '2.5.29.32',
  policyMappings: '2.5.29.33',
  policyConstraints: '2.5.29.36',
  extendedKeyUsage: '2.5.29.37',
  inhibitAnyPolicy: '2.5.29.54',
  emailAddress: '1.2.840.113549.1.9.1',
} as const;

/**
 * The extensions path validation processes; a critical extension not in this list fails the path
 * (RFC 5280 §4.2). The same list as OpenSSL's, less the ones it knows and imagegate has no use for.
 * Policy extensions are safe to accept because imagegate, like cosign, requires no policy: they
 * can only narrow the policy tree, which matters only once an explicit policy is required, and a
 * `requireExplicitPolicy` fails the path ({@link PathProblem} `explicit-policy`).
 */
export const HANDLED_CRITICAL_EXTENSIONS: ReadonlySet<string> = new Set([
  OID.keyUsage,
  OID.subjectAltName,
  OID.basicConstraints,
  OID.nameConstraints,
  OID.certificatePolicies,
  OID.policyMappings,
  OID.policyConstraints,
  OID.extendedKeyUsage,
  OID.inhibitAnyPolicy,
]);

/** Names times subtrees compared for one path, at most (OpenSSL bounds the same product). */
export const MAX_NAME_CONSTRAINT_CHECKS = 65_536;

/** The name forms of RFC 5280 §4.2.1.6 (GeneralName tags), as messages spell them. */
const NAME_FORMS = [
  'otherName',
  'email',
  'DNS name',
  'x400Address',
  'directory name',
  'ediPartyName',
  'URI',
  'IP address',
  'registeredID',
] as const;
export type NameForm = (typeof NAME_FORMS)[number];

/** Why a path fails; `index` is the certificate's position (0 = leaf), `ca` the constraining CA's. */
export type PathProblem =
  | { readonly kind: 'unreadable'; readonly index: number; readonly detail: string }
  | { readonly kind: 'unhandled-critical-extension'; readonly index: number; readonly oid: string }
  | { readonly kind: 'explicit-policy'; readonly index: number }
  | {
      readonly kind: 'name-not-permitted';
      readonly index: number;
      readonly ca: number;
      readonly form: NameForm;
      readonly name: string;
      readonly permitted: readonly string[];
    }
  | {
      readonly kind: 'name-excluded';
      readonly index: number;
      readonly ca: number;
      readonly form: NameForm;
      readonly name: string;
      readonly excluded: string;
    }
  | {
      readonly kind: 'unsupported-constraint';
      readonly index: number;
      readonly ca: number;
      readonly form: NameForm;
    }
  | {
      readonly kind: 'malformed-name';
      readonly index: number;
      readonly ca: number;
      readonly form: NameForm;
      readonly name: string;
    }
  | { readonly kind: 'too-many-name-checks' };

/** One certificate, decoded once: what the checks read. */
interface Decoded {
  readonly criticalUnhandled: string | undefined;
  readonly requireExplicitPolicy: boolean;
  readonly selfIssued: boolean;
  /** Decoded on first use: most paths have no name constraints (Fulcio's have none). */
  readonly names: () => readonly Name[];
  readonly constraints:
    { readonly permitted: readonly Subtree[]; readonly excluded: readonly Subtree[] } | undefined;
}

interface Name {
  readonly form: number;
  /** The name as text (email, DNS, URI, IP in dotted or colon form, DN in RFC 4514-ish form). */
  readonly text: string;
  readonly value: unknown;
}

interface Subtree extends Name {
  /** RFC 5280: minimum MUST be 0 and maximum absent; OpenSSL refuses anything else. */
  readonly bounded: boolean;
}

const decodedCache = new WeakMap<X509Certificate, Decoded | string>();

/**
 * The first RFC 5280 problem of `path` (leaf first, trust anchor last), or `undefined`. Every
 * certificate's critical extensions must be handled (an issuer's key usage is checked with its CA
 * flag, in lib/verify/certificates.ts); no certificate may require an explicit policy; and every
 * certificate's names (subject, subject email attributes, SANs) must be within the name
 * constraints of every CA above it, the trust anchor included (OpenSSL and Go apply an anchor's
 * constraints too).
 */
export function rfc5280PathProblem(path: readonly X509Certificate[]): PathProblem | undefined {
  const decoded: Decoded[] = [];
  for (const [index, certificate] of path.entries()) {
    const result = decode(certificate);
    if (typeof result === 'string') return { kind: 'unreadable', index, detail: result };
    decoded.push(result);
  }
  for (const [index, certificate] of decoded.entries()) {
    if (certificate.criticalUnhandled) {
      return { kind: 'unhandled-critical-extension', index, oid: certificate.criticalUnhandled };
    }
    if (certificate.requireExplicitPolicy) return { kind: 'explicit-policy', index };
  }
  return nameConstraintProblem(decoded);
}

function nameConstraintProblem(path: readonly Decoded[]): PathProblem | undefined {
  let checks = 0;
  for (let ca = 1; ca < path.length; ca++) {
    const constraints = path[ca]?.constraints;
    if (!constraints) continue;
    for (let index = 0; index < ca; index++) {
      const certificate = path[index];
      // RFC 5280 §6.1.3 (b): self-issued intermediates are not subject to their issuers' constraints.
      if (!certificate || (index > 0 && certificate.selfIssued)) continue;
      let names: readonly Name[];
      try {
        names = certificate.names();
      } catch (error) {
        return { kind: 'unreadable', index, detail: describeError(error) };
      }
      checks += names.length * (constraints.permitted.length + constraints.excluded.length);
      if (checks > MAX_NAME_CONSTRAINT_CHECKS) return { kind: 'too-many-name-checks' };
      for (const name of names) {
        const problem = checkName(name, constraints, index, ca);
        if (problem) return problem;
      }
    }
  }
  return undefined;
}

function checkName(
  name: Name,
  constraints: NonNullable<Decoded['constraints']>,
  index: number,
  ca: number,
): PathProblem | undefined {
  const form = NAME_FORMS[name.form] ?? 'otherName';
  const permitted = constraints.permitted.filter((subtree) => subtree.form === name.form);
  const excluded = constraints.excluded.filter((subtree) => subtree.form === name.form);
  if (permitted.length + excluded.length === 0) return undefined;
  if (!MATCHERS[name.form] || [...permitted, ...excluded].some((subtree) => subtree.bounded)) {
    return { kind: 'unsupported-constraint', index, ca, form };
  }
  const matches = (subtree: Subtree): boolean | 'malformed' => MATCHERS[name.form]?.(name, subtree) ?? false;
  const results = [...permitted, ...excluded].map(matches);
  if (results.includes('malformed')) return { kind: 'malformed-name', index, ca, form, name: name.text };
  if (permitted.length > 0 && !results.slice(0, permitted.length).includes(true)) {
    return {
      kind: 'name-not-permitted',
      index,
      ca,
      form,
      name: name.text,
      permitted: permitted.map((subtree) => subtree.text),
    };
  }
  const hit = excluded.findIndex((_, position) => results[permitted.length + position] === true);
  const subtree = excluded[hit];
  return subtree
    ? { kind: 'name-excluded', index, ca, form, name: name.text, excluded: subtree.text }
    : undefined;
}

type Matcher = (name: Name, subtree: Subtree) => boolean | 'malformed';

/** Name matching per form, as OpenSSL's `nc_match` (crypto/x509/v3_ncons.c) does it. */
const MATCHERS: Partial<Record<number, Matcher>> = {
  1: (name, subtree) => matchEmail(name.text, subtree.text),
  2: (name, subtree) => matchDns(name.text, subtree.text),
  4: (name, subtree) => matchDirectoryName(name.value, subtree.value),
  6: (name, subtree) => matchUri(name.text, subtree.text),
  7: (name, subtree) => matchIp(name.value, subtree.value),
};

const lower = (text: string) => text.toLowerCase();

/** `example.com` matches it and its subdomains; `.example.com` only its subdomains; empty matches all. */
function matchDns(name: string, constraint: string): boolean {
  if (constraint.length === 0) return true;
  const host = lower(name);
  const base = lower(constraint);
  if (host.length < base.length || !host.endsWith(base)) return false;
  return host.length === base.length || base.startsWith('.') || host[host.length - base.length - 1] === '.';
}

/**
 * `.example.com`: any mailbox on a subdomain; `example.com`: any mailbox on exactly that host;
 * `user@example.com`: that mailbox (local part compared exactly, host without case).
 */
function matchEmail(address: string, constraint: string): boolean | 'malformed' {
  const at = address.lastIndexOf('@');
  if (at <= 0 || at === address.length - 1) return 'malformed';
  if (constraint.startsWith('.')) {
    return address.length > constraint.length && lower(address).endsWith(lower(constraint));
  }
  const constraintAt = constraint.lastIndexOf('@');
  if (constraintAt > 0 && constraint.slice(0, constraintAt) !== address.slice(0, at)) return false;
  return lower(address.slice(at + 1)) === lower(constraint.slice(constraintAt + 1));
}

/**
 * The URI's host against the constraint (`.example.com`: subdomains; else exactly that host). A URI
 * without a `scheme://host` part, or with user information or an IP literal, does not match.
 */
function matchUri(uri: string, constraint: string): boolean | 'malformed' {
  const start = uri.indexOf('://');
  if (start < 0) return 'malformed';
  const rest = uri.slice(start + 3);
  const end = rest.search(/[:/?#]/);
  const host = end < 0 ? rest : rest.slice(0, end);
  if (host.length === 0 || /[@[\]]/.test(host)) return 'malformed';
  if (constraint.startsWith('.')) {
    return host.length > constraint.length && lower(host).endsWith(lower(constraint));
  }
  return lower(host) === lower(constraint);
}

function matchIp(name: unknown, constraint: unknown): boolean {
  const address = octets(name);
  const range = octets(constraint);
  if (!address || !range || range.length !== address.length * 2) return false;
  return address.every((byte, i) => ((byte ^ (range[i] ?? 0)) & (range[i + address.length] ?? 0)) === 0);
}

/** RFC 5280 §7.1: the constraint's RDNs are the first RDNs of the name. */
function matchDirectoryName(name: unknown, constraint: unknown): boolean {
  if (!(name instanceof RelativeDistinguishedNames) || !(constraint instanceof RelativeDistinguishedNames)) {
    return false;
  }
  const prefix = constraint.typesAndValues;
  if (prefix.length > name.typesAndValues.length) return false;
  return prefix.every((attribute, i) => {
    const other = name.typesAndValues[i];
    return other !== undefined && attribute.isEqual(other);
  });
}

function octets(value: unknown): Uint8Array | undefined {
  const view = (value as { valueBlock?: { valueHexView?: Uint8Array } } | undefined)?.valueBlock
    ?.valueHexView;
  return view instanceof Uint8Array ? view : undefined;
}

function decode(certificate: X509Certificate): Decoded | string {
  const cached = decodedCache.get(certificate);
  if (cached) return cached;
  let result: Decoded | string;
  try {
    result = decodeCertificate(certificate);
  } catch (error) {
    result = describeError(error);
  }
  decodedCache.set(certificate, result);
  return result;
}

/** The DER of a pkijs-decodable value, copied out of Node's shared buffer pool. */
const der = (bytes: Buffer): Uint8Array => new Uint8Array(bytes);

function decodeCertificate(certificate: X509Certificate): Decoded {
  let criticalUnhandled: string | undefined;
  let requireExplicitPolicy = false;
  let constraints: Decoded['constraints'];
  let subjectAltName: Buffer | undefined;
  // Extension ::= SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }
  for (const extension of certificate.extensions) {
    const oid = extension.subs[0]?.toOID() ?? '';
    const critical = extension.subs.length === 3 && extension.subs[1]?.toBoolean() === true;
    const value = extension.subs[extension.subs.length - 1]?.value ?? Buffer.alloc(0);
    if (critical && !HANDLED_CRITICAL_EXTENSIONS.has(oid)) criticalUnhandled ??= oid;
    if (oid === OID.policyConstraints) {
      requireExplicitPolicy = PolicyConstraints.fromBER(der(value)).requireExplicitPolicy !== undefined;
    } else if (oid === OID.subjectAltName) {
      subjectAltName = value;
    } else if (oid === OID.nameConstraints) {
      const parsed = NameConstraints.fromBER(der(value));
      constraints = {
        permitted: (parsed.permittedSubtrees ?? []).map(subtreeOf),
        excluded: (parsed.excludedSubtrees ?? []).map(subtreeOf),
      };
    }
  }
  let names: readonly Name[] | undefined;
  return {
    criticalUnhandled,
    requireExplicitPolicy,
    selfIssued: certificate.subject.equals(certificate.issuer),
    constraints,
    names: () => (names ??= namesOf(certificate, subjectAltName)),
  };
}

/** Every name of a certificate name constraints apply to: SANs, the subject DN and its email attributes (§4.2.1.10). */
function namesOf(certificate: X509Certificate, subjectAltName: Buffer | undefined): Name[] {
  const names = subjectAltName ? AltName.fromBER(der(subjectAltName)).altNames.map(nameOf) : [];
  // Name ::= SEQUENCE OF RDN; `subject` is the SEQUENCE's content.
  const content = certificate.subject;
  if (content.length === 0) return names;
  const subject = RelativeDistinguishedNames.fromBER(
    der(Buffer.concat([Buffer.from([0x30]), derLength(content.length), content])),
  );
  names.push({ form: 4, text: describeRdns(subject), value: subject });
  for (const attribute of subject.typesAndValues) {
    if (attribute.type !== OID.emailAddress) continue;
    const text = attributeText(attribute) ?? '';
    names.push({ form: 1, text, value: text });
  }
  return names;
}

function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest >>= 8) bytes.unshift(rest & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function nameOf(name: GeneralName): Name {
  return { form: name.type, text: nameText(name), value: name.value as unknown };
}

/** A DN attribute's string value (every directory string type), or `undefined`. */
function attributeText(attribute: AttributeTypeAndValue): string | undefined {
  const value = (attribute.value as { valueBlock?: { value?: unknown } }).valueBlock?.value;
  return typeof value === 'string' ? value : undefined;
}

function subtreeOf(subtree: GeneralSubtree): Subtree {
  const minimum = typeof subtree.minimum === 'number' ? subtree.minimum : subtree.minimum.valueBlock.valueDec;
  return { ...nameOf(subtree.base), bounded: minimum !== 0 || subtree.maximum !== undefined };
}

function nameText(name: GeneralName): string {
  switch (name.type) {
    case 1:
    case 2:
    case 6:
      return String(name.value);
    case 4:
      return name.value instanceof RelativeDistinguishedNames ? describeRdns(name.value) : '';
    case 7: {
      const bytes = octets(name.value) ?? new Uint8Array();
      const half = bytes.length === 8 || bytes.length === 32 ? bytes.length / 2 : bytes.length;
      const address = (part: Uint8Array) =>
        part.length === 4
          ? [...part].join('.')
          : [...part]
              .map((byte) => byte.toString(16).padStart(2, '0'))
              .join('')
              .replace(/(.{4})(?!$)/g, '$1:');
      return half === bytes.length
        ? address(bytes)
        : `${address(bytes.subarray(0, half))}/${address(bytes.subarray(half))}`;
    }
    default:
      return NAME_FORMS[name.type] ?? 'otherName';
  }
}

function describeRdns(name: RelativeDistinguishedNames): string {
  return name.typesAndValues
    .map(
      (attribute) =>
        `${ATTRIBUTE_NAMES[attribute.type] ?? attribute.type}=${attributeText(attribute) ?? '…'}`,
    )
    .join(', ');
}

/** Short names of the distinguished-name attributes that messages spell out (RFC 4514). */
export const DN_ATTRIBUTE_NAMES: Readonly<Record<string, string>> = {
  '2.5.4.3': 'CN',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
};

/** Name-constraint messages also name the emailAddress attribute (it is what email constraints read). */
const ATTRIBUTE_NAMES: Readonly<Record<string, string>> = {
  ...DN_ATTRIBUTE_NAMES,
  [OID.emailAddress]: 'emailAddress',
};
