import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import {
  BUNDLE_V03_LEGACY_MEDIA_TYPE,
  BUNDLE_V03_MEDIA_TYPE,
  bundleFromJSON,
  ValidationError,
  type Bundle,
} from '@sigstore/bundle';
import { X509Certificate } from '@sigstore/core';
import { toSignedEntity, VerificationError, Verifier, type SignedEntity } from '@sigstore/verify';
import { describeError } from '../errors';
import type { SigstoreBundleArtifact } from '../oci/referrers';
import { keyFingerprint, type SigningTime } from './certificates';
import {
  annotationMismatch,
  checkSignerCertificate,
  resolveSigner,
  Stage,
  type AttestorCheck,
  type CarriedCertificate,
  type StageFailure,
} from './checks';
import { IN_TOTO_PAYLOAD_TYPE, matchStatementSubject, verifyDsseSignature } from './intoto';
import type { SignatureVerdict } from './legacy';
import { entryKey } from './rekor';
import { verifyRawSignature } from './signature';
import { readGenTime, TimestampUnreadableError, withReadableGenTime } from './timestamp';
import { trustMaterialOf } from './trust-roots';

/** What a bundle must be about: an image digest (OCI referrers), or an artifact's bytes. */
export type BundleSubject =
  { readonly kind: 'image'; readonly digest: string } | { readonly kind: 'artifact'; readonly bytes: Buffer };

/**
 * Verifies the Sigstore bundles attached to an image against one attestor (cosign v3,
 * cosign-formats §3.4): one bundle that passes is enough; otherwise the failure of the one that
 * got furthest is reported.
 */
export function verifyBundleArtifacts(
  artifacts: readonly SigstoreBundleArtifact[],
  imageDigest: string,
  check: AttestorCheck,
): SignatureVerdict {
  if (artifacts.length === 0) {
    return {
      verified: false,
      stage: Stage.Material,
      reason: 'signature not found: no Sigstore bundle refers to the image',
    };
  }
  let furthest: StageFailure | undefined;
  for (const artifact of artifacts) {
    let json: unknown;
    let failure: StageFailure | undefined;
    try {
      json = JSON.parse(Buffer.from(artifact.bytes).toString('utf8'));
      failure = verifySigstoreBundle(json, { kind: 'image', digest: imageDigest }, check);
    } catch (error) {
      failure = { stage: Stage.Material, reason: `unreadable Sigstore bundle: ${describeError(error)}` };
    }
    if (!failure) return { verified: true, evidence: `Sigstore bundle ${artifact.manifestDigest}` };
    if (!furthest || failure.stage > furthest.stage) furthest = failure;
  }
  return { verified: false, ...(furthest ?? { stage: Stage.Material, reason: 'signature not found' }) };
}

/**
 * Verifies one Sigstore bundle (v0.1–v0.3 JSON) offline. @sigstore/verify checks the signature,
 * the transparency-log entries (SET, inclusion proof and checkpoint, body against the signature)
 * and RFC 3161 timestamps; imagegate adds what it leaves out (cosign-formats §4.3): the
 * certificate chain with the code-signing usage, identity (anchored), SCTs, validity at the
 * signing time, the log entry's public key, one DSSE signature, and the in-toto subject.
 * For an image, only v0.3 DSSE bundles count (as cosign). Returns the failure, or `undefined`.
 */
export function verifySigstoreBundle(
  json: unknown,
  subject: BundleSubject,
  check: AttestorCheck,
): StageFailure | undefined {
  let bundle: Bundle;
  let entity: SignedEntity;
  try {
    bundle = bundleFromJSON(json);
    entity = toSignedEntity(bundle, subject.kind === 'artifact' ? subject.bytes : undefined);
  } catch (error) {
    const fields = error instanceof ValidationError ? ` (${error.fields.join(', ')})` : '';
    return { stage: Stage.Material, reason: `unreadable Sigstore bundle: ${describeError(error)}${fields}` };
  }
  if (subject.kind === 'image') {
    if (bundle.mediaType !== BUNDLE_V03_MEDIA_TYPE && bundle.mediaType !== BUNDLE_V03_LEGACY_MEDIA_TYPE) {
      return { stage: Stage.Material, reason: `Sigstore bundle ${bundle.mediaType} is older than v0.3` };
    }
    if (bundle.content.$case !== 'dsseEnvelope') {
      return {
        stage: Stage.Material,
        reason:
          'the Sigstore bundle holds a message signature, not a DSSE envelope (images are signed with DSSE)',
      };
    }
  }

  const signer = resolveSigner(check, () => bundleCertificate(bundle, entity));
  if ('stage' in signer) return signer;

  const content = checkContent(bundle, subject, signer.key, check);
  if (content) return content;

  const readable = withReadableTimestamps(entity, check);
  if ('stage' in readable) return readable;
  const verified = verifyWithSigstore(readable, signer.key, check);
  if ('stage' in verified) return verified;
  const times = verified.times;

  const certificate = checkSignerCertificate(signer, times, check);
  if (certificate) return certificate;
  return checkStatement(bundle, subject, check);
}

/** The certificate a bundle's verification material carries, with its chain's intermediates. */
function bundleCertificate(bundle: Bundle, entity: SignedEntity): CarriedCertificate | StageFailure {
  if (entity.key.$case !== 'certificate') {
    return { stage: Stage.Material, reason: 'the Sigstore bundle is signed with a key, not a certificate' };
  }
  const material = bundle.verificationMaterial.content;
  const untrusted =
    material.$case === 'x509CertificateChain'
      ? material.x509CertificateChain.certificates
          .slice(1)
          .map((certificate) => X509Certificate.parse(Buffer.from(certificate.rawBytes)))
      : [];
  return { leaf: entity.key.certificate, untrusted };
}

/** One DSSE signature of an in-toto statement (or a message signature over the artifact) by this key. */
function checkContent(
  bundle: Bundle,
  subject: BundleSubject,
  key: KeyObject,
  check: AttestorCheck,
): StageFailure | undefined {
  const { content } = bundle;
  if (content.$case === 'dsseEnvelope') {
    const envelope = content.dsseEnvelope;
    if (envelope.signatures.length !== 1) {
      return {
        stage: Stage.Material,
        reason: `the DSSE envelope has ${envelope.signatures.length} signatures; exactly one is accepted`,
      };
    }
    const [signature] = envelope.signatures;
    if (
      !signature ||
      !verifyDsseSignature(envelope.payloadType, envelope.payload, signature.sig, key, check.signer.hash)
    ) {
      return { stage: Stage.Signature, reason: 'invalid signature' };
    }
    return undefined;
  }
  if (subject.kind !== 'artifact') return { stage: Stage.Material, reason: 'not a DSSE bundle' };
  const digest = createHash('sha256').update(subject.bytes).digest();
  if (!content.messageSignature.messageDigest?.digest.equals(digest)) {
    return { stage: Stage.Digest, reason: 'the message signature is for another artifact digest' };
  }
  if (!verifyRawSignature(subject.bytes, content.messageSignature.signature, key, check.signer.hash)) {
    return { stage: Stage.Signature, reason: 'invalid signature' };
  }
  return undefined;
}

/**
 * The entity with its RFC 3161 timestamps' genTime read by imagegate (@sigstore/core cannot read
 * 1, 2 or 4+ fractional digits). A timestamp whose genTime is unreadable fails the bundle when the
 * policy requires timestamps, and is left out otherwise, like any timestamp that does not verify.
 */
function withReadableTimestamps(entity: SignedEntity, check: AttestorCheck): SignedEntity | StageFailure {
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
        return { stage: Stage.Timestamp, reason: `invalid RFC 3161 timestamp: ${error.message}` };
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
function verifyWithSigstore(
  entity: SignedEntity,
  key: KeyObject,
  check: AttestorCheck,
): { readonly times: SigningTime[] } | StageFailure {
  const hasLog = entity.tlogEntries.length > 0;
  if (check.tlog.required && !hasLog) {
    return {
      stage: Stage.Log,
      reason: 'missing transparency-log proof: the Sigstore bundle has no Rekor entry',
    };
  }
  const hasTimestamp = entity.timestamps.some((timestamp) => timestamp.$case === 'timestamp-authority');
  if (check.timestamps.required && !hasTimestamp) {
    return {
      stage: Stage.Timestamp,
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
  let useLog = hasLog;
  let useTimestamps = hasTimestamp;
  for (;;) {
    const candidate = keyed(useLog, useTimestamps);
    try {
      new Verifier(material, {
        tlogThreshold: check.tlog.required ? 1 : 0,
        ctlogThreshold: 0,
        timestampThreshold: 0,
      }).verify(candidate);
    } catch (error) {
      const code = error instanceof VerificationError ? error.code : 'ERROR';
      const message = describeError(error);
      if (code.startsWith('TLOG')) {
        if (check.tlog.required)
          return { stage: Stage.Log, reason: `invalid transparency-log proof: ${message}` };
        if (useLog) {
          useLog = false;
          continue;
        }
      }
      if (code === 'TIMESTAMP_ERROR') {
        if (check.timestamps.required)
          return { stage: Stage.Timestamp, reason: `invalid RFC 3161 timestamp: ${message}` };
        if (useTimestamps) {
          useTimestamps = false;
          continue;
        }
      }
      return { stage: Stage.Signature, reason: `invalid signature: ${message}` };
    }
    const times = signingTimes(candidate);
    if (useLog) {
      const mismatch = logKeyMismatch(candidate, key) ?? logWindowMismatch(candidate, check, times);
      if (mismatch) {
        if (check.tlog.required) return { stage: Stage.Log, reason: mismatch };
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
  const expected = keyFingerprint(key);
  for (const entry of entity.tlogEntries) {
    const recorded = recordedKeys(entry.canonicalizedBody);
    if (recorded.length === 0 || recorded.some((fingerprint) => fingerprint !== expected)) {
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

/** The signer keys a Rekor entry body records (v1 hashedrekord, dsse, intoto; v2 hashedrekord, dsse). */
function recordedKeys(body: Buffer): string[] {
  let parsed: { spec?: Record<string, unknown> };
  try {
    parsed = JSON.parse(body.toString('utf8')) as typeof parsed;
  } catch {
    return [];
  }
  const spec = parsed.spec ?? {};
  const pem = (value: unknown) =>
    entryKey(typeof value === 'string' ? Buffer.from(value, 'base64').toString('utf8') : undefined);
  const v2 = (verifier: unknown): string | undefined => {
    const material = verifier as
      { x509Certificate?: { rawBytes?: string }; publicKey?: { rawBytes?: string } } | undefined;
    try {
      if (material?.x509Certificate?.rawBytes) {
        return keyFingerprint(
          X509Certificate.parse(Buffer.from(material.x509Certificate.rawBytes, 'base64')).publicKey,
        );
      }
      if (material?.publicKey?.rawBytes) {
        return keyFingerprint(
          createPublicKey({
            key: Buffer.from(material.publicKey.rawBytes, 'base64'),
            format: 'der',
            type: 'spki',
          }),
        );
      }
    } catch {
      return undefined;
    }
    return undefined;
  };
  const found: (string | undefined)[] = [];
  const signature = spec.signature as { publicKey?: { content?: unknown } } | undefined;
  if (signature?.publicKey) found.push(pem(signature.publicKey.content)?.fingerprint);
  for (const item of (spec.signatures as { verifier?: unknown }[] | undefined) ?? []) {
    found.push(pem(item.verifier)?.fingerprint);
  }
  const envelope = (spec.content as { envelope?: { signatures?: { publicKey?: unknown }[] } } | undefined)
    ?.envelope;
  for (const item of envelope?.signatures ?? []) found.push(pem(item.publicKey)?.fingerprint);
  const hashedRekord = spec.hashedRekordV002 as { signature?: { verifier?: unknown } } | undefined;
  if (hashedRekord) found.push(v2(hashedRekord.signature?.verifier));
  const dsseV2 = spec.dsseV002 as { signatures?: { verifier?: unknown }[] } | undefined;
  for (const item of dsseV2?.signatures ?? []) found.push(v2(item.verifier));
  return found.map((fingerprint) => fingerprint ?? 'unreadable');
}

/** The in-toto statement names the image (or artifact), with the attestor's annotations. */
function checkStatement(
  bundle: Bundle,
  subject: BundleSubject,
  check: AttestorCheck,
): StageFailure | undefined {
  if (bundle.content.$case !== 'dsseEnvelope') return undefined;
  const envelope = bundle.content.dsseEnvelope;
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) {
    return {
      stage: Stage.Payload,
      reason: `the DSSE payload is ${envelope.payloadType}, not an in-toto statement`,
    };
  }
  const digest =
    subject.kind === 'image'
      ? subject.digest
      : `sha256:${createHash('sha256').update(subject.bytes).digest('hex')}`;
  const matched = matchStatementSubject(envelope.payload, digest);
  if (typeof matched === 'string') return { stage: Stage.Digest, reason: matched };
  const mismatch = annotationMismatch(check.annotations, matched.subject.annotations);
  return mismatch ? { stage: Stage.Annotations, reason: mismatch } : undefined;
}
