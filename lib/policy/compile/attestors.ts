/**
 * Attestor sets and their entries: public keys, keyless identities, certificates and nested sets,
 * including the rule-level legacy attestor (`key`, `issuer`, …).
 */
import { FULCIO_EXTENSIONS, wildcard, type IdentityPolicy } from '../../verify/identity';
import { KeyParseError, parsePublicKeys, type SignatureHash } from '../../verify/keys';
import { formatPath, type FieldReader, type PathSegment } from '../fields';
import type {
  Attestor,
  AttestorSet,
  CertificateAttestor,
  CtlogOptions,
  KeyAttestor,
  KeylessAttestor,
  RekorOptions,
} from '../types';
import { containsVariable } from '../variable-syntax';
import { NO_LOG, readCtlog, readRekor, readRekorDefaults } from './logs';
import { KEY_REFERENCES, UNSUPPORTED_KEY_FIELDS, VARIABLES_IN_PEM } from './unsupported';
import {
  readCertificateField,
  readHash,
  readRegExp,
  readRepository,
  type SignatureRepository,
} from './values';

const ATTESTOR_KINDS = ['keys', 'keyless', 'certificates', 'attestor'] as const;

/** `attestors[]`: `count` of its `entries` must pass (all of them when unset). */
export function readAttestorSet(reader: FieldReader): AttestorSet {
  const count = reader.integer('count', { min: 1 });
  const rawEntries = reader.raw('entries');
  const entries = reader.list('entries', { required: true }).flatMap(readAttestorEntry);
  reader.rejectUnknown();
  if (Array.isArray(rawEntries) && rawEntries.length === 0) {
    // Required count 0: the set would pass for every image, signed or not (Kyverno: "An entry is required").
    reader.problem(
      'entries',
      'must not be empty: an attestor set without entries is satisfied by every image, signed or not',
    );
  }
  // With no usable entry the entries' own problems say what is wrong.
  if (count !== undefined && entries.length > 0 && count > entries.length) {
    reader.problem(
      'count',
      `is ${count} but the set has only ${entries.length} attestors: it could never be satisfied`,
    );
  }
  return { path: formatPath(reader.path), count, entries };
}

/**
 * The rule-level legacy attestor (Kyverno's `ImageVerification.Convert`): `key`, or `issuer`
 * with `subject`, `roots` and `additionalExtensions` (keyless), with `annotations`.
 */
export function readLegacyAttestor(reader: FieldReader): AttestorSet[] {
  const path = reader.path;
  const key = reader.string('key');
  const annotations = reader.stringMap('annotations');
  const keylessFields = ['issuer', 'subject', 'roots', 'additionalExtensions'].filter((field) =>
    reader.has(field),
  );
  if (key !== undefined) {
    for (const field of keylessFields) reader.problem(field, 'applies only without the rule-level key');
    reader.accept(...keylessFields);
    const entries = readKeys(key, [...path, 'key'], reader, 'sha256', annotations, undefined, {
      rekor: NO_LOG,
      ctlog: { requireSct: false, publicKey: undefined, tsaCertChain: undefined },
    });
    return [{ path: formatPath([...path, 'key']), count: undefined, entries }];
  }
  if (reader.has('issuer')) {
    const keyless = readKeylessFields(reader, annotations, undefined, { rule: true });
    return keyless ? [{ path: formatPath([...path, 'issuer']), count: undefined, entries: [keyless] }] : [];
  }
  for (const field of keylessFields)
    reader.problem(field, 'applies only together with the rule-level issuer');
  reader.accept(...keylessFields);
  if (Object.keys(annotations).length > 0) {
    reader.problem('annotations', 'applies only together with the rule-level key or issuer');
  }
  return [];
}

function readAttestorEntry(reader: FieldReader): Attestor[] {
  const annotations = reader.stringMap('annotations');
  const repository = readRepository(reader);
  const entryHash = readHash(reader, 'signatureAlgorithm');
  const kinds = ATTESTOR_KINDS.filter((kind) => reader.has(kind));
  reader.accept(...ATTESTOR_KINDS);
  reader.rejectUnknown();
  if (kinds.length !== 1) {
    reader.problem(undefined, 'must have exactly one of keys, certificates, keyless or attestor');
    return [];
  }
  switch (kinds[0]) {
    case 'attestor': {
      const nested = reader.object('attestor');
      return nested ? [{ path: formatPath(nested.path), kind: 'set', set: readAttestorSet(nested) }] : [];
    }
    case 'keys': {
      const keys = reader.object('keys');
      if (!keys) return [];
      const hash = readHash(keys, 'signatureAlgorithm') ?? entryHash ?? 'sha256';
      const rekor = readRekor(keys, false);
      const ctlog = readCtlog(keys, 'key');
      const publicKeys = keys.string('publicKeys', { required: !keys.has('kms') && !keys.has('secret') });
      keys.rejectUnknown(UNSUPPORTED_KEY_FIELDS);
      if (publicKeys === undefined) return [];
      return readKeys(publicKeys, [...keys.path, 'publicKeys'], keys, hash, annotations, repository, {
        rekor,
        ctlog,
      });
    }
    case 'keyless': {
      const keyless = reader.object('keyless');
      const attestor = keyless && readKeylessFields(keyless, annotations, repository, { rule: false });
      return attestor ? [attestor] : [];
    }
    case 'certificates': {
      const certificates = reader.object('certificates');
      const attestor = certificates && readCertificates(certificates, annotations, repository, entryHash);
      return attestor ? [attestor] : [];
    }
    default:
      return [];
  }
}

/** Where an attestor's signatures live, as its compiled fields carry it. */
function signatureFields(repository: SignatureRepository | undefined) {
  return { repository: repository?.repository, signatureLocation: repository?.location };
}

function readKeys(
  pem: string,
  path: readonly PathSegment[],
  reader: FieldReader,
  hash: SignatureHash,
  annotations: Record<string, string>,
  repository: SignatureRepository | undefined,
  logs: { rekor: RekorOptions; ctlog: CtlogOptions },
): KeyAttestor[] {
  const trimmed = pem.trim();
  const reference =
    KEY_REFERENCES.find(([pattern]) => pattern.test(trimmed))?.[1] ??
    (containsVariable(trimmed) ? VARIABLES_IN_PEM : undefined);
  if (reference) {
    reader.problem(String(path[path.length - 1]), `is not supported: ${reference}`);
    return [];
  }
  try {
    return parsePublicKeys(pem).map((key) => ({
      path: formatPath(path),
      kind: 'key',
      key,
      hash,
      annotations,
      ...signatureFields(repository),
      ...logs,
    }));
  } catch (error) {
    if (!(error instanceof KeyParseError)) throw error;
    reader.problem(String(path[path.length - 1]), error.message);
    return [];
  }
}

/**
 * `keyless` (or the rule-level `issuer`, `subject`, `roots`, `additionalExtensions`): the
 * identity the Fulcio certificate must carry, the CA it must chain to, and the log requirements.
 * `subject` and `issuer` use Kyverno's wildcards; `subjectRegExp` and `issuerRegExp` must match
 * the whole value (anchored, unlike cosign).
 */
function readKeylessFields(
  reader: FieldReader,
  annotations: Record<string, string>,
  repository: SignatureRepository | undefined,
  options: { rule: boolean },
): KeylessAttestor | undefined {
  const subject = reader.string('subject');
  const issuer = reader.string('issuer');
  const subjectRegExp = options.rule ? undefined : readRegExp(reader, 'subjectRegExp');
  const issuerRegExp = options.rule ? undefined : readRegExp(reader, 'issuerRegExp');
  const extensions = Object.entries(reader.stringMap('additionalExtensions')).flatMap(([name, pattern]) => {
    const oid =
      FULCIO_EXTENSIONS[name] ?? (Object.values(FULCIO_EXTENSIONS).includes(name) ? name : undefined);
    if (!oid) {
      reader.problem(
        'additionalExtensions',
        `unknown certificate extension ${JSON.stringify(name)} (known: ${Object.keys(FULCIO_EXTENSIONS).join(', ')} or their OIDs)`,
      );
      return [];
    }
    return [{ name, oid, matcher: wildcard(pattern) }];
  });
  const identity: IdentityPolicy = {
    subject: [...(subject ? [wildcard(subject)] : []), ...(subjectRegExp ? [subjectRegExp] : [])],
    issuer: [...(issuer ? [wildcard(issuer)] : []), ...(issuerRegExp ? [issuerRegExp] : [])],
    extensions,
  };
  const roots = readCertificateField(reader, 'roots', 100);
  const rekor = options.rule ? readRekorDefaults(true) : readRekor(reader, true);
  const ctlog: CtlogOptions = options.rule
    ? { requireSct: true, publicKey: undefined, tsaCertChain: undefined }
    : readCtlog(reader, 'certificate');
  if (!options.rule) reader.rejectUnknown();
  const matchesAnything = (pattern: string | undefined) => pattern !== undefined && /^\*+$/.test(pattern);
  const anonymous =
    identity.subject.length + identity.issuer.length + identity.extensions.length === 0 ||
    (subjectRegExp === undefined &&
      issuerRegExp === undefined &&
      extensions.length === 0 &&
      [subject, issuer].every((pattern) => !pattern || matchesAnything(pattern)));
  if (anonymous && !reader.has('roots')) {
    reader.problem(
      undefined,
      'needs subject, subjectRegExp, issuer, issuerRegExp or additionalExtensions (a lone * matches every identity): without an identity any certificate of the trusted Fulcio CAs would pass (or trust only your own CA with roots)',
    );
    return undefined;
  }
  return {
    path: formatPath(reader.path),
    kind: 'keyless',
    identity,
    roots,
    annotations,
    ...signatureFields(repository),
    rekor,
    ctlog,
  };
}

function readCertificates(
  reader: FieldReader,
  annotations: Record<string, string>,
  repository: SignatureRepository | undefined,
  hash: SignatureHash | undefined,
): CertificateAttestor | undefined {
  const cert = readCertificateField(reader, 'cert', 100, { base64: true })?.[0];
  const certChain = readCertificateField(reader, 'certChain');
  const rekor = readRekor(reader, true);
  const ctlog = readCtlog(reader, 'certificate');
  reader.rejectUnknown();
  if (!reader.has('cert') && !reader.has('certChain')) {
    reader.problem(undefined, 'needs cert or certChain (for Fulcio certificates use keyless)');
    return undefined;
  }
  return {
    path: formatPath(reader.path),
    kind: 'certificate',
    cert,
    certChain,
    hash: hash ?? 'sha256',
    annotations,
    ...signatureFields(repository),
    rekor,
    ctlog,
  };
}
