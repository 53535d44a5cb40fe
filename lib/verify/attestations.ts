import { createHash, type KeyObject } from 'node:crypto';
import type { X509Certificate } from '@sigstore/core';
import { describeError } from '../errors';
import type { SignatureLayer } from '../oci/cosign';
import type { SigstoreBundleArtifact } from '../oci/referrers';
import { evaluateSafely } from '../policy/preconditions';
import type { Attestation, AttestorSet, LeafAttestor } from '../policy/types';
import { setVerdict, type AttestorOutcome, type FetchedBundles, type FetchedSignatures } from './attestors';
import { verifySigstoreBundle } from './bundle';
import { keyFingerprint, type SigningTime } from './certificates';
import {
  annotationMismatch,
  checkSignerCertificate,
  resolveCheck,
  resolveSigner,
  Stage,
  type AttestorCheck,
  type Signer,
  type StageFailure,
  type VerificationContext,
} from './checks';
import {
  IN_TOTO_PAYLOAD_TYPE,
  matchStatementSubject,
  parseDsseEnvelope,
  verifyDsseSignature,
  type DsseEnvelope,
} from './intoto';
import { checkLayerTimestamp, layerCertificate, layerRekorBundle, logProblem, type LogProof } from './legacy';
import { entryKey, verifySignedEntryTimestamp } from './rekor';

/** cosign's `custom` predicate (`cosign attest --type custom`): its `Data` string is JSON when it parses. */
export const COSIGN_CUSTOM_PREDICATE_TYPE = 'https://cosign.sigstore.dev/attestation/v1';

/** Everything fetched for one leaf attestor's location: legacy `.att` layers and Sigstore bundles. */
export interface AttestationEvidence {
  readonly legacy: FetchedSignatures;
  readonly bundles: FetchedBundles;
}

export type AttestationLookup = (attestor: LeafAttestor) => AttestationEvidence;

/** What verifying attestations needs besides the evidence. */
export interface AttestationContext extends VerificationContext {
  /**
   * Variables the conditions see besides the predicate (whose fields are merged at the root, as
   * Kyverno does): `image`, `request`, `images`.
   */
  readonly variables: Readonly<Record<string, unknown>>;
}

/** A verified in-toto statement of an image. */
export interface VerifiedStatement {
  readonly predicateType: string;
  readonly predicate: unknown;
  /** Which layer or bundle it came from. */
  readonly evidence: string;
}

/**
 * Checks an image's attestations: for each, every attestor set must pass (`count` of its entries,
 * all when unset), where an entry passes when it verifies at least one in-toto statement of the
 * attestation's predicate type for this digest; then every statement so verified must satisfy
 * every conditions block. Statements come from the Sigstore bundles when the image has any (or
 * with `type: SigstoreBundle`), else from the legacy `.att` layers (as `cosign verify-attestation`
 * v3). Pure: no I/O, no clock besides `context.now`.
 */
export function evaluateAttestations(
  attestations: readonly Attestation[],
  imageDigest: string,
  evidenceFor: AttestationLookup,
  context: AttestationContext,
): AttestorOutcome {
  let firstError: AttestorOutcome | undefined;
  for (const attestation of attestations) {
    const outcome = evaluateAttestation(attestation, imageDigest, evidenceFor, context);
    if (outcome.status === 'fail') return outcome;
    if (outcome.status === 'error') firstError ??= outcome;
  }
  return firstError ?? { status: 'pass' };
}

/** `attestation "name" of type <type>`, for messages. */
export function attestationLabel(attestation: Pick<Attestation, 'name' | 'type'>): string {
  return `attestation ${attestation.name ? `${JSON.stringify(attestation.name)} ` : ''}of type ${attestation.type}`;
}

type SetOutcome =
  | { readonly status: 'pass'; readonly statements: readonly VerifiedStatement[] }
  | {
      readonly status: 'fail' | 'error';
      readonly reason: string;
      readonly verified: number;
      readonly required: number;
      readonly statements: readonly VerifiedStatement[];
    };

function evaluateAttestation(
  attestation: Attestation,
  imageDigest: string,
  evidenceFor: AttestationLookup,
  context: AttestationContext,
): AttestorOutcome {
  const label = attestationLabel(attestation);
  const statements: VerifiedStatement[] = [];
  let error: string | undefined;
  for (const set of attestation.attestorSets) {
    const outcome = evaluateSet(set, attestation.type, imageDigest, evidenceFor, context);
    statements.push(...outcome.statements);
    if (outcome.status === 'fail') {
      return {
        status: 'fail',
        reason: `${label}: verifiedCount: ${outcome.verified}, requiredCount: ${outcome.required}: ${outcome.reason}`,
      };
    }
    if (outcome.status === 'error') error ??= `${label}: ${outcome.reason}`;
  }
  const violation = conditionViolation(attestation, statements, context);
  if (violation) return { status: 'fail', reason: `${label}: conditions failed: ${violation}` };
  return error ? { status: 'error', reason: error } : { status: 'pass' };
}

/** Kyverno's `verifyAttestation`: every statement of the type must satisfy every conditions block. */
function conditionViolation(
  attestation: Attestation,
  statements: readonly VerifiedStatement[],
  context: AttestationContext,
): string | undefined {
  if (attestation.conditions.length === 0) return undefined;
  for (const statement of statements) {
    const { predicate } = statement;
    if (typeof predicate !== 'object' || predicate === null || Array.isArray(predicate)) {
      return `the predicate of ${statement.evidence} is not a JSON object`;
    }
    // The predicate's fields at the root (Kyverno's documented convention), and also under
    // `predicate` (as Kyverno's SigstoreBundle test policies write them).
    const root = { ...context.variables, predicate, ...(predicate as Record<string, unknown>) };
    for (const block of attestation.conditions) {
      const result = evaluateSafely(block, root);
      if (!result.passed) return result.failed.join('; ');
    }
  }
  return undefined;
}

function evaluateSet(
  set: AttestorSet,
  type: string,
  imageDigest: string,
  evidenceFor: AttestationLookup,
  context: AttestationContext,
): SetOutcome {
  const required = set.count ?? set.entries.length;
  let passed = 0;
  const statements: VerifiedStatement[] = [];
  const failures: string[] = [];
  const errors: string[] = [];
  for (const attestor of set.entries) {
    const outcome =
      attestor.kind === 'set'
        ? evaluateSet(attestor.set, type, imageDigest, evidenceFor, context)
        : evaluateEntry(attestor, type, imageDigest, evidenceFor, context);
    statements.push(...outcome.statements);
    if (outcome.status === 'pass') passed++;
    else (outcome.status === 'error' ? errors : failures).push(outcome.reason);
  }
  const verdict = setVerdict(required, passed, failures, errors);
  return verdict.status === 'pass'
    ? { status: 'pass', statements }
    : { ...verdict, verified: passed, required, statements };
}

type EntryOutcome =
  | { readonly status: 'pass'; readonly statements: readonly VerifiedStatement[] }
  | { readonly status: 'fail' | 'error'; readonly reason: string; readonly statements: readonly [] };

/** One leaf attestor: bundles when the image has any (or with `type: SigstoreBundle`), else `.att`. */
function evaluateEntry(
  attestor: LeafAttestor,
  type: string,
  imageDigest: string,
  evidenceFor: AttestationLookup,
  context: AttestationContext,
): EntryOutcome {
  const { legacy, bundles } = evidenceFor(attestor);
  const check = resolveCheck(attestor, context);
  if (context.type === 'SigstoreBundle' || (bundles.ok && bundles.bundles.length > 0)) {
    if (!bundles.ok) return unfetched(bundles);
    return entryOutcome(verifyBundleStatements(bundles.bundles, type, imageDigest, check));
  }
  const legacyOutcome = legacy.ok
    ? entryOutcome(verifyAttestationLayers(legacy.layers, type, imageDigest, check))
    : unfetched(legacy);
  if (bundles.ok || legacyOutcome.status === 'pass') return legacyOutcome;
  if (bundles.trusted === 'unknown') return { status: 'error', reason: bundles.reason, statements: [] };
  return {
    status: legacyOutcome.status,
    reason: `${legacyOutcome.reason}; ${bundles.reason}`,
    statements: [],
  };
}

function unfetched(fetched: { readonly trusted: false | 'unknown'; readonly reason: string }): EntryOutcome {
  return { status: fetched.trusted === 'unknown' ? 'error' : 'fail', reason: fetched.reason, statements: [] };
}

type StatementsVerdict = { readonly statements: readonly VerifiedStatement[] } | StageFailure;

function entryOutcome(verdict: StatementsVerdict): EntryOutcome {
  return 'statements' in verdict
    ? { status: 'pass', statements: verdict.statements }
    : { status: 'fail', reason: verdict.reason, statements: [] };
}

/** An in-toto statement's `predicateType` and `predicate`, read before its signature is checked (to select). */
function readStatement(
  payload: Buffer,
): { predicateType: string | undefined; predicate: unknown } | undefined {
  try {
    const statement = JSON.parse(payload.toString('utf8')) as {
      predicateType?: unknown;
      predicate?: unknown;
    };
    if (typeof statement !== 'object' || statement === null) return undefined;
    return {
      predicateType: typeof statement.predicateType === 'string' ? statement.predicateType : undefined,
      predicate: statement.predicate,
    };
  } catch {
    return undefined;
  }
}

/** Kyverno decodes the `Data` string of cosign's custom predicate as JSON when it is JSON. */
function predicateOf(predicateType: string, predicate: unknown): unknown {
  if (predicateType !== COSIGN_CUSTOM_PREDICATE_TYPE) return predicate;
  const data = (predicate as { Data?: unknown } | null)?.Data;
  if (typeof data !== 'string') return predicate;
  try {
    return { ...(predicate as Record<string, unknown>), Data: JSON.parse(data) as unknown };
  } catch {
    return predicate;
  }
}

function notFound(type: string, found: ReadonlySet<string>, format: string): StageFailure {
  const others = [...found].filter((item) => item !== type);
  return {
    stage: Stage.Material,
    reason:
      others.length === 0
        ? `no attestation of type ${type} found (${format})`
        : `no attestation of type ${type} found (${format}; found ${others.join(', ')})`,
  };
}

/** One candidate attestation: its statement (read before any check, to select by type) and how to verify it. */
interface Candidate {
  readonly statement: { readonly predicateType: string | undefined; readonly predicate: unknown } | undefined;
  readonly evidence: string;
  readonly verify: () => StageFailure | undefined;
}

/**
 * Keeps the candidates whose statement has the predicate type and verifies each; the verified
 * statements, or the failure that got furthest, or "not found" naming the types that were there.
 */
function verifiedStatements(
  candidates: readonly Candidate[],
  type: string,
  where: string,
): StatementsVerdict {
  const found = new Set<string>();
  const statements: VerifiedStatement[] = [];
  let furthest: StageFailure | undefined;
  for (const { statement, evidence, verify } of candidates) {
    if (!statement?.predicateType) continue;
    found.add(statement.predicateType);
    if (statement.predicateType !== type) continue;
    const failure = verify();
    if (!failure) {
      statements.push({ predicateType: type, predicate: predicateOf(type, statement.predicate), evidence });
    } else if (!furthest || failure.stage > furthest.stage) {
      furthest = failure;
    }
  }
  if (statements.length > 0) return { statements };
  return furthest ?? notFound(type, found, where);
}

/** Selects, then verifies, the Sigstore bundles whose DSSE statement has the predicate type. */
function verifyBundleStatements(
  artifacts: readonly SigstoreBundleArtifact[],
  type: string,
  imageDigest: string,
  check: AttestorCheck,
): StatementsVerdict {
  const candidates = artifacts.flatMap((artifact): Candidate[] => {
    let json: unknown;
    try {
      json = JSON.parse(Buffer.from(artifact.bytes).toString('utf8'));
    } catch {
      return [];
    }
    const envelope = (json as { dsseEnvelope?: { payload?: unknown; payloadType?: unknown } } | null)
      ?.dsseEnvelope;
    if (typeof envelope?.payload !== 'string' || envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) return [];
    return [
      {
        statement: readStatement(Buffer.from(envelope.payload, 'base64')),
        evidence: `Sigstore bundle ${artifact.manifestDigest}`,
        verify: () => {
          try {
            return verifySigstoreBundle(json, { kind: 'image', digest: imageDigest }, check);
          } catch (error) {
            return { stage: Stage.Material, reason: `unreadable Sigstore bundle: ${describeError(error)}` };
          }
        },
      },
    ];
  });
  return verifiedStatements(candidates, type, 'Sigstore bundles');
}

/**
 * Selects, then verifies, cosign's legacy `.att` layers (cosign-formats §2) whose in-toto
 * statement has the predicate type: the DSSE envelope (payload type in-toto) has a signature by
 * the attestor's key or certificate over its pre-authentication encoding; the certificate chains
 * and carries the identity; the Rekor bundle annotation (an `intoto` or `dsse` entry for these
 * envelope bytes) and RFC 3161 timestamp verify as the attestor requires; and the statement's
 * subject names the image digest, with the attestor's annotations.
 */
function verifyAttestationLayers(
  layers: readonly SignatureLayer[],
  type: string,
  imageDigest: string,
  check: AttestorCheck,
): StatementsVerdict {
  const candidates = layers.flatMap((layer): Candidate[] => {
    const envelope = parseDsseEnvelope(layer.payload);
    if (!envelope || envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) return [];
    return [
      {
        statement: readStatement(envelope.payload),
        evidence: `attestation layer ${layer.digest}`,
        verify: () => checkAttestationLayer(layer, envelope, imageDigest, check),
      },
    ];
  });
  return verifiedStatements(
    candidates,
    type,
    layers.length === 0 ? 'the image has no .att attestations' : '.att',
  );
}

function checkAttestationLayer(
  layer: SignatureLayer,
  envelope: DsseEnvelope,
  imageDigest: string,
  check: AttestorCheck,
): StageFailure | undefined {
  const signer = resolveSigner(check, () => layerCertificate(layer, 'attestation'));
  if ('stage' in signer) return signer;
  // cosign verifies DSSE with threshold 1: any signature of the envelope by this signer.
  const signed = envelope.signatures.some((signature) =>
    verifyDsseSignature(envelope.payloadType, envelope.payload, signature.sig, signer.key, check.signer.hash),
  );
  if (!signed) return { stage: Stage.Signature, reason: 'invalid signature' };

  const times: SigningTime[] = [];
  const log = checkLog(layer, signer, check);
  if ('stage' in log) return log;
  if (log.time) times.push(log.time);
  const timestamp = checkLayerTimestamp(layer, layer.payload, check);
  if (timestamp && 'stage' in timestamp) return timestamp;
  if (timestamp) times.push(timestamp);

  const certificate = checkSignerCertificate(signer, times, check);
  if (certificate) return certificate;
  const matched = matchStatementSubject(envelope.payload, imageDigest);
  if (typeof matched === 'string') return { stage: Stage.Digest, reason: matched };
  const mismatch = annotationMismatch(check.annotations, matched.subject.annotations);
  return mismatch ? { stage: Stage.Annotations, reason: mismatch } : undefined;
}

/**
 * The `dev.sigstore.cosign/bundle` annotation of a `.att` layer, offline: the SET by a trusted
 * log key valid at the integrated time, over an `intoto` (0.0.1, 0.0.2) or `dsse` (0.0.1) entry
 * whose envelope hash is the sha256 of the layer bytes and whose keys are the signer's (cosign
 * skips the signature comparison for attestations). Required: a missing or invalid proof fails;
 * otherwise a valid one dates the signature.
 */
function checkLog(layer: SignatureLayer, signer: Signer, check: AttestorCheck): LogProof {
  const bundle = layerRekorBundle(layer, check, 'attestation');
  if (!('body' in bundle)) return bundle;
  const set = verifySignedEntryTimestamp(bundle, check.tlog.logs);
  if (!set.ok) return logProblem(check, set.reason);
  const mismatch = attestationEntryMismatch(bundle.body, layer.payload, signer);
  if (mismatch) return logProblem(check, `invalid transparency-log proof: ${mismatch}`);
  return { time: { time: set.integratedTime, source: `Rekor integrated time, ${set.log.baseURL}` } };
}

/** An `intoto` / `dsse` Rekor entry body against the layer bytes and the signer. */
export function attestationEntryMismatch(
  base64Body: string,
  envelopeBytes: Uint8Array,
  signer: { readonly key: KeyObject; readonly certificate: X509Certificate | undefined },
): string | undefined {
  let body: { kind?: unknown; apiVersion?: unknown; spec?: Record<string, unknown> };
  try {
    body = JSON.parse(Buffer.from(base64Body, 'base64').toString('utf8')) as typeof body;
  } catch {
    return 'the Rekor entry body is not JSON';
  }
  const spec = body.spec ?? {};
  const b64Pem = (value: unknown) =>
    typeof value === 'string' ? Buffer.from(value, 'base64').toString('utf8') : undefined;
  let hash: { algorithm?: unknown; value?: unknown } | undefined;
  let pems: (string | undefined)[];
  const entryType = `${String(body.kind)} ${String(body.apiVersion)}`;
  switch (entryType) {
    case 'intoto 0.0.1': {
      const content = spec.content as { hash?: typeof hash } | undefined;
      hash = content?.hash;
      pems = [b64Pem(spec.publicKey)];
      break;
    }
    case 'intoto 0.0.2': {
      const content = spec.content as
        { hash?: typeof hash; envelope?: { signatures?: { publicKey?: unknown }[] } } | undefined;
      hash = content?.hash;
      pems = (content?.envelope?.signatures ?? []).map((signature) => b64Pem(signature.publicKey));
      break;
    }
    case 'dsse 0.0.1': {
      hash = spec.envelopeHash as typeof hash;
      pems = ((spec.signatures as { verifier?: unknown }[] | undefined) ?? []).map((signature) =>
        b64Pem(signature.verifier),
      );
      break;
    }
    default:
      return `the Rekor entry is of kind ${entryType}, not an intoto or dsse attestation entry`;
  }
  const digest = createHash('sha256').update(envelopeBytes).digest('hex');
  const recordedHash = typeof hash?.value === 'string' ? hash.value.toLowerCase() : undefined;
  if (hash?.algorithm !== 'sha256' || recordedHash !== digest) {
    return `the Rekor entry is for envelope sha256:${recordedHash ?? '(none)'}, not sha256:${digest}`;
  }
  const expected = keyFingerprint(signer.key);
  if (pems.length === 0) return 'the Rekor entry names no public key';
  for (const pem of pems) {
    const recorded = entryKey(pem);
    if (!recorded) return 'the Rekor entry names no readable public key';
    if (recorded.certificate && signer.certificate && !recorded.certificate.equals(signer.certificate)) {
      return 'the Rekor entry was made with another certificate';
    }
    if (recorded.fingerprint !== expected) return 'the Rekor entry was made with another public key';
  }
  return undefined;
}
