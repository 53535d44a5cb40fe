import type { KeyObject } from 'node:crypto';
import type { X509Certificate } from '@sigstore/core';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toTrustMaterial, type TrustMaterial } from '@sigstore/verify';
import { describeError, ImagegateError } from '../errors';
import publicGoodJson from './trust/public-good.trusted_root.json';
import publicGoodVersion from './trust/public-good.version.json';

/** A transparency log (Rekor) or certificate-transparency log trusted for its validity window. */
export interface LogAuthority {
  /** The key ID @sigstore/verify matches entries and checkpoints against. */
  readonly logID: Buffer;
  /** `logId.keyId` of the trusted root (sha256 of the DER public key): what a Rekor SET names. */
  readonly keyId: Buffer;
  readonly baseURL: string;
  readonly publicKey: KeyObject;
  readonly validFor: { readonly start: Date; readonly end: Date };
  /** Name of the trust root document it came from. */
  readonly source: string;
}

/** A certificate authority (Fulcio) or timestamp authority: its chain, leaf or intermediate first. */
export interface CertificateAuthority {
  readonly certChain: readonly X509Certificate[];
  readonly validFor: { readonly start: Date; readonly end: Date };
  readonly uri: string;
  readonly source: string;
}

/**
 * Every Sigstore trust root imagegate trusts, merged: the public-good root that ships with the
 * function plus any private ones (`IMAGEGATE_TRUST_ROOTS`). Each piece of evidence is checked
 * against the authority its own key ID or issuer names (see ADR 5).
 */
export interface TrustRoots {
  /** The documents merged, in order (for messages and logs). */
  readonly sources: readonly string[];
  readonly certificateAuthorities: readonly CertificateAuthority[];
  readonly timestampAuthorities: readonly CertificateAuthority[];
  readonly tlogs: readonly LogAuthority[];
  readonly ctlogs: readonly LogAuthority[];
}

/** A trusted_root.json document and the name it is reported under (file name, S3 key). */
export interface TrustRootDocument {
  readonly name: string;
  readonly json: unknown;
}

export class TrustRootError extends ImagegateError<'INVALID_TRUST_ROOT'> {}

const MEDIA_TYPE =
  /^application\/vnd\.dev\.sigstore\.trustedroot(?:\+json;version=0\.[12]|\.v0\.[12]\+json)$/;

/** The Sigstore public-good trusted root shipped with imagegate, and where it came from. */
export const PUBLIC_GOOD_TRUST_ROOT: TrustRootDocument & { readonly version: typeof publicGoodVersion } = {
  name: `public-good (${publicGoodVersion.package}@${publicGoodVersion.version})`,
  json: publicGoodJson,
  version: publicGoodVersion,
};

/**
 * Validates and merges trusted_root.json documents. Each goes through @sigstore/verify's own
 * reading (`toTrustMaterial(TrustedRoot.fromJSON(...))`) plus the checks sigstore-js leaves out
 * and sigstore-go makes (every log key and authority has `validFor.start`, no empty chains,
 * unique names). Throws {@link TrustRootError} naming the document and the field.
 */
export function loadTrustRoots(documents: readonly TrustRootDocument[]): TrustRoots {
  const seen = new Set<string>();
  const merged = {
    sources: [] as string[],
    certificateAuthorities: [] as CertificateAuthority[],
    timestampAuthorities: [] as CertificateAuthority[],
    tlogs: [] as LogAuthority[],
    ctlogs: [] as LogAuthority[],
  };
  for (const { name, json } of documents) {
    if (seen.has(name)) throw new TrustRootError('INVALID_TRUST_ROOT', `trust root ${name} is given twice`);
    seen.add(name);
    const fail = (message: string, cause?: unknown): never => {
      throw new TrustRootError('INVALID_TRUST_ROOT', `trust root ${name}: ${message}`, { cause });
    };
    checkShape(json, fail);
    let material: TrustMaterial;
    let root: TrustedRoot;
    try {
      root = TrustedRoot.fromJSON(json);
      material = toTrustMaterial(root);
    } catch (error) {
      return fail(`unreadable: ${describeError(error)}`, error);
    }
    merged.sources.push(name);
    merged.tlogs.push(
      ...material.tlogs.map((log, index) => ({
        ...log,
        keyId: Buffer.from(root.tlogs[index]?.logId?.keyId ?? log.logID),
        source: name,
      })),
    );
    merged.ctlogs.push(
      ...material.ctlogs.map((log, index) => ({
        ...log,
        keyId: Buffer.from(root.ctlogs[index]?.logId?.keyId ?? log.logID),
        source: name,
      })),
    );
    merged.certificateAuthorities.push(
      ...material.certificateAuthorities.map((ca, index) => ({
        ...ca,
        uri: root.certificateAuthorities[index]?.uri ?? '',
        source: name,
      })),
    );
    merged.timestampAuthorities.push(
      ...material.timestampAuthorities.map((ca, index) => ({
        ...ca,
        uri: root.timestampAuthorities[index]?.uri ?? '',
        source: name,
      })),
    );
  }
  return merged;
}

let publicGood: TrustRoots | undefined;

/** The shipped public-good trust root alone (loaded once per process). */
export function publicGoodTrustRoots(): TrustRoots {
  return (publicGood ??= loadTrustRoots([PUBLIC_GOOD_TRUST_ROOT]));
}

/** The same URL for the purpose of naming a log: scheme, host and path, no trailing slash, any case. */
export function sameLogUrl(a: string, b: string): boolean {
  const normal = (url: string) => url.trim().replace(/\/+$/, '').toLowerCase();
  return normal(a) === normal(b);
}

/** The sigstore-js view of trust roots (for bundle verification). */
export function trustMaterialOf(
  roots: Pick<TrustRoots, 'certificateAuthorities' | 'timestampAuthorities' | 'tlogs' | 'ctlogs'>,
  publicKey: TrustMaterial['publicKey'],
): TrustMaterial {
  return {
    certificateAuthorities: roots.certificateAuthorities.map((ca) => ({
      certChain: [...ca.certChain],
      validFor: { start: ca.validFor.start, end: ca.validFor.end },
    })),
    timestampAuthorities: roots.timestampAuthorities.map((ca) => ({
      certChain: [...ca.certChain],
      validFor: { start: ca.validFor.start, end: ca.validFor.end },
    })),
    tlogs: roots.tlogs.map((log) => ({ ...log, validFor: { ...log.validFor } })),
    ctlogs: roots.ctlogs.map((log) => ({ ...log, validFor: { ...log.validFor } })),
    publicKey,
  };
}

/**
 * The structural checks @sigstore/protobuf-specs does not make (it turns missing fields into
 * defaults): media type, every log's key, log ID and `validFor.start`, every authority's chain
 * and `validFor.start`.
 */
function checkShape(json: unknown, fail: (message: string) => never): void {
  const document = asObject(json) ?? fail('is not a JSON object');
  const mediaType = document.mediaType;
  if (typeof mediaType !== 'string' || !MEDIA_TYPE.test(mediaType)) {
    fail(`mediaType ${JSON.stringify(mediaType)} is not a Sigstore trusted root (0.1 or 0.2)`);
  }
  for (const field of ['tlogs', 'ctlogs'] as const) {
    listOf(document, field, fail).forEach((item, index) => {
      const log = asObject(item) ?? fail(`${field}[${index}] is not an object`);
      const where = `${field}[${index}] (${String(log.baseUrl)})`;
      const publicKey = asObject(log.publicKey) ?? fail(`${where} has no publicKey`);
      if (typeof publicKey.rawBytes !== 'string' || publicKey.rawBytes === '') {
        fail(`${where} has no publicKey.rawBytes`);
      }
      checkValidFor(publicKey.validFor, `${where} publicKey.validFor`, fail);
      if (typeof asObject(log.logId)?.keyId !== 'string') fail(`${where} has no logId.keyId`);
      if (typeof log.baseUrl !== 'string' || log.baseUrl === '') fail(`${field}[${index}] has no baseUrl`);
    });
  }
  for (const field of ['certificateAuthorities', 'timestampAuthorities'] as const) {
    listOf(document, field, fail).forEach((item, index) => {
      const authority = asObject(item) ?? fail(`${field}[${index}] is not an object`);
      const where = `${field}[${index}] (${String(authority.uri)})`;
      const certificates = asObject(authority.certChain)?.certificates;
      if (!Array.isArray(certificates) || certificates.length === 0) fail(`${where} has no certChain`);
      checkValidFor(authority.validFor, `${where} validFor`, fail);
    });
  }
}

function checkValidFor(value: unknown, where: string, fail: (message: string) => never): void {
  const validFor = asObject(value) ?? fail(`${where} is missing`);
  const start = validFor.start;
  if (typeof start !== 'string' || Number.isNaN(Date.parse(start))) {
    fail(`${where}.start is missing or not a time (an open start is not accepted)`);
  }
  if (validFor.end !== undefined) {
    const end = validFor.end;
    if (typeof end !== 'string' || Number.isNaN(Date.parse(end))) fail(`${where}.end is not a time`);
    if (Date.parse(end) < Date.parse(start)) fail(`${where} ends before it starts`);
  }
}

function listOf(
  document: Record<string, unknown>,
  field: string,
  fail: (message: string) => never,
): unknown[] {
  const value = document[field];
  if (value === undefined) return [];
  return Array.isArray(value) ? value : fail(`${field} is not a list`);
}

function asObject(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}
