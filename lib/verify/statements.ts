/**
 * Statement selection: the in-toto statements of a predicate type among an image's Sigstore
 * bundles or `.att` layers, selected by type before any check (as cosign does), then verified.
 */
import { describeError } from '../errors';
import { COSIGN_CUSTOM_PREDICATE_TYPE, IN_TOTO_PAYLOAD_TYPE } from '../model/cosign-format';
import type { SignatureLayer, SigstoreBundleArtifact } from '../model/evidence';
import { checkAttestationLayer } from './att-layer';
import { unreadableBundle, verifySigstoreBundle } from './bundle';
import { parseDsseEnvelope } from './intoto';
import { Stage, type StageFailure } from '../model/verification';
import type { AttestorCheck } from './spec';

/** A verified in-toto statement of an image. */
export interface VerifiedStatement {
  readonly predicateType: string;
  readonly predicate: unknown;
  /** Which layer or bundle it came from. */
  readonly evidence: string;
}

/** The statements of the type that verified, or why none did (the furthest failure). */
export type StatementsVerdict = { readonly statements: readonly VerifiedStatement[] } | StageFailure;

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
    failure: 'ATTESTATION_NOT_FOUND',
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
export function verifyBundleStatements(
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
            return unreadableBundle(describeError(error));
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
export function verifyAttestationLayers(
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
