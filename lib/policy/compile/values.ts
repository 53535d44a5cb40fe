/**
 * Typed values shared by several parts of a policy: failure actions, signature repositories,
 * hash algorithms, PEM keys and certificates, regular expressions. Each is parsed here, once.
 */
import type { KeyObject } from 'node:crypto';
import type { X509Certificate } from '@sigstore/core';
import { describeError } from '../../errors';
import type { SignatureLocation } from '../../model/evidence';
import { parseImageReference } from '../../model/image';
import { CertificateParseError, parseCertificatesPem } from '../../verify/certificates';
import { anchoredRegExp, type ValueMatcher } from '../../verify/identity';
import { KeyParseError, parsePublicKeys, SIGNATURE_HASHES, type SignatureHash } from '../../verify/keys';
import type { FieldReader } from '../fields';
import type { FailureAction } from '../types';
import { containsVariable } from '../variable-syntax';
import { VARIABLES_IN_PEM } from './unsupported';

/** `Audit` or `Enforce`, in any letter case (as Kyverno reads `validationFailureAction`). */
export function readFailureAction(reader: FieldReader, name: string): FailureAction | undefined {
  const value = reader.string(name);
  if (value === undefined) return undefined;
  if (/^enforce$/i.test(value)) return 'Enforce';
  if (/^audit$/i.test(value)) return 'Audit';
  reader.problem(name, `must be Audit or Enforce, got ${JSON.stringify(value)}`);
  return undefined;
}

/** A signature `repository` as written, and where it points. */
export interface SignatureRepository {
  readonly repository: string;
  readonly location: SignatureLocation;
}

/** A signature `repository`: `registry/path` with no tag or digest, parsed once. */
export function readRepository(reader: FieldReader): SignatureRepository | undefined {
  const repository = reader.string('repository');
  if (repository === undefined) return undefined;
  const path = repository.slice(repository.indexOf('/') + 1);
  if (repository.includes('@') || path.includes(':')) {
    reader.problem('repository', 'must name a repository without a tag or digest');
    return undefined;
  }
  try {
    const { registry, repository: name } = parseImageReference(repository);
    return { repository, location: { registry, repository: name } };
  } catch (error) {
    reader.problem('repository', describeError(error));
    return undefined;
  }
}

/** A signature hash algorithm (`signatureAlgorithm`). */
export function readHash(reader: FieldReader, name: string): SignatureHash | undefined {
  return reader.string(name, { allowed: SIGNATURE_HASHES });
}

/** One PEM public key (`rekor.pubkey`, `ctlog.pubkey`). */
export function readPublicKeyField(reader: FieldReader, name: string): KeyObject | undefined {
  const pem = reader.string(name);
  if (pem === undefined) return undefined;
  try {
    const keys = parsePublicKeys(pem);
    if (keys.length > 1) reader.problem(name, 'must hold one public key');
    return keys[0]?.key;
  } catch (error) {
    if (!(error instanceof KeyParseError)) throw error;
    reader.problem(name, error.message);
    return undefined;
  }
}

/** PEM certificates (Kyverno also accepts the PEM base64-encoded in `cert`). */
export function readCertificateField(
  reader: FieldReader,
  name: string,
  max?: number,
  options: { base64?: boolean } = {},
): X509Certificate[] | undefined {
  let pem = reader.string(name);
  if (pem === undefined) return undefined;
  if (containsVariable(pem)) {
    reader.problem(name, `is not supported: ${VARIABLES_IN_PEM}`);
    return undefined;
  }
  if (options.base64 && !pem.includes('-----BEGIN')) pem = Buffer.from(pem, 'base64').toString('utf8');
  try {
    return parseCertificatesPem(pem, max);
  } catch (error) {
    if (!(error instanceof CertificateParseError)) throw error;
    reader.problem(name, error.message);
    return undefined;
  }
}

/** A regular expression that must match the whole value. */
export function readRegExp(reader: FieldReader, name: string): ValueMatcher | undefined {
  const pattern = reader.string(name);
  if (pattern === undefined) return undefined;
  try {
    return anchoredRegExp(pattern);
  } catch (error) {
    reader.problem(name, `is not a valid regular expression: ${describeError(error)}`);
    return undefined;
  }
}
