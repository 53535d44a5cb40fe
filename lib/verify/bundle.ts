/** Sigstore bundles (cosign v3, cosign-formats §3.4): their shape, signer, content and statement. */
import { createHash, type KeyObject } from 'node:crypto';
import {
  BUNDLE_V03_LEGACY_MEDIA_TYPE,
  BUNDLE_V03_MEDIA_TYPE,
  bundleFromJSON,
  ValidationError,
  type Bundle,
} from '@sigstore/bundle';
import { X509Certificate } from '@sigstore/core';
import { toSignedEntity, type SignedEntity } from '@sigstore/verify';
import { describeError } from '../errors';
import { IN_TOTO_PAYLOAD_TYPE } from '../model/cosign-format';
import type { SigstoreBundleArtifact } from '../model/evidence';
import { matchStatementSubject, statementMismatch, verifyDsseSignature } from './intoto';
import { noSignatures, Stage, type SignatureVerdict, type StageFailure } from '../model/verification';
import { verifyRawSignature } from './signature';
import { checkSignerCertificate, resolveSigner, type CarriedCertificate } from './signer';
import { verifyWithSigstore, withReadableTimestamps } from './sigstore-js';
import type { AttestorCheck } from './spec';

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
  if (artifacts.length === 0)
    return noSignatures('signature not found: no Sigstore bundle refers to the image');
  let furthest: StageFailure | undefined;
  for (const artifact of artifacts) {
    let json: unknown;
    let failure: StageFailure | undefined;
    try {
      json = JSON.parse(Buffer.from(artifact.bytes).toString('utf8'));
      failure = verifySigstoreBundle(json, { kind: 'image', digest: imageDigest }, check);
    } catch (error) {
      failure = unreadableBundle(describeError(error));
    }
    if (!failure) return { verified: true, evidence: `Sigstore bundle ${artifact.manifestDigest}` };
    if (!furthest || failure.stage > furthest.stage) furthest = failure;
  }
  return furthest ? { verified: false, ...furthest } : noSignatures('signature not found');
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
    return unreadableBundle(`${describeError(error)}${fields}`);
  }
  if (subject.kind === 'image') {
    if (bundle.mediaType !== BUNDLE_V03_MEDIA_TYPE && bundle.mediaType !== BUNDLE_V03_LEGACY_MEDIA_TYPE) {
      return malformed(`Sigstore bundle ${bundle.mediaType} is older than v0.3`);
    }
    if (bundle.content.$case !== 'dsseEnvelope') {
      return malformed(
        'the Sigstore bundle holds a message signature, not a DSSE envelope (images are signed with DSSE)',
      );
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
    return {
      stage: Stage.Material,
      failure: 'NO_CERTIFICATE',
      reason: 'the Sigstore bundle is signed with a key, not a certificate',
    };
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
      return malformed(
        `the DSSE envelope has ${envelope.signatures.length} signatures; exactly one is accepted`,
      );
    }
    const [signature] = envelope.signatures;
    if (
      !signature ||
      !verifyDsseSignature(envelope.payloadType, envelope.payload, signature.sig, key, check.signer.hash)
    ) {
      return INVALID_SIGNATURE;
    }
    return undefined;
  }
  if (subject.kind !== 'artifact') return malformed('not a DSSE bundle');
  const digest = createHash('sha256').update(subject.bytes).digest();
  if (!content.messageSignature.messageDigest?.digest.equals(digest)) {
    return {
      stage: Stage.Digest,
      failure: 'DIGEST_MISMATCH',
      reason: 'the message signature is for another artifact digest',
    };
  }
  if (!verifyRawSignature(subject.bytes, content.messageSignature.signature, key, check.signer.hash)) {
    return INVALID_SIGNATURE;
  }
  return undefined;
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
      failure: 'PAYLOAD',
      reason: `the DSSE payload is ${envelope.payloadType}, not an in-toto statement`,
    };
  }
  const digest =
    subject.kind === 'image'
      ? subject.digest
      : `sha256:${createHash('sha256').update(subject.bytes).digest('hex')}`;
  const matched = matchStatementSubject(envelope.payload, digest);
  return statementMismatch(matched, check);
}

/** A bundle that cannot be read: JSON, protobuf shape or signed entity. */
export function unreadableBundle(problem: string): StageFailure {
  return malformed(`unreadable Sigstore bundle: ${problem}`);
}

function malformed(reason: string): StageFailure {
  return { stage: Stage.Material, failure: 'MALFORMED_EVIDENCE', reason };
}

const INVALID_SIGNATURE: StageFailure = {
  stage: Stage.Signature,
  failure: 'INVALID_SIGNATURE',
  reason: 'invalid signature',
};
