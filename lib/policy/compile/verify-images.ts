/**
 * One `verifyImages` entry: its image patterns (compiled), digest options, signature repository
 * (parsed), registry credentials, attestor sets and attestations (with what their conditions read).
 */
import { formatPath, type FieldReader } from '../fields';
import { compileImagePattern } from '../image-patterns';
import type { Attestation, FailureAction, ImageVerification } from '../types';
import { conditionReads } from '../variable-syntax';
import { readAttestorSet, readLegacyAttestor } from './attestors';
import { readConditionBlock } from './conditions';
import { NOT_YET, UNSUPPORTED_VERIFY_FIELDS } from './unsupported';
import { readFailureAction, readRepository } from './values';

const ENTRY_TYPES = ['Cosign', 'SigstoreBundle', 'Notary'] as const;

/** A verifyImages entry as read, before the rule's failure action is known. */
export interface EntryDraft {
  readonly reader: FieldReader;
  readonly explicitAction: FailureAction | undefined;
  readonly entry: Omit<ImageVerification, 'failureAction' | 'failureActionOverrides'>;
}

/** One `verifyImages` entry; its failure action is settled per rule afterwards (`policy.ts`). */
export function readVerifyImages(reader: FieldReader): EntryDraft {
  const path = reader.path;
  const type = reader.string('type', { allowed: ENTRY_TYPES }) ?? 'Cosign';
  if (type === 'Notary') reader.problem('type', `is not supported: Notary verification is ${NOT_YET}`);

  const image = reader.string('image');
  const imageReferences = [...reader.stringList('imageReferences'), ...(image ? [image] : [])];
  if (imageReferences.length === 0)
    reader.problem('imageReferences', 'is required (an image reference is required)');
  const skipImageReferences = reader.stringList('skipImageReferences');

  const explicitAction = readFailureAction(reader, 'failureAction');
  const mutateDigest = reader.boolean('mutateDigest', true);
  const verifyDigest = reader.boolean('verifyDigest', true);
  const required = reader.boolean('required', true);
  const useCache = reader.boolean('useCache', true);
  const repository = readRepository(reader);
  if (reader.boolean('cosignOCI11', false)) reader.problem('cosignOCI11', `is not supported: ${NOT_YET}`);

  const credentialSecrets = readRegistryCredentials(reader.object('imageRegistryCredentials'));
  const attestorSets = reader.list('attestors').map(readAttestorSet);
  const legacy = readLegacyAttestor(reader);
  attestorSets.push(...legacy);
  const attestations = reader.list('attestations').flatMap(readAttestation);
  reader.rejectUnknown(UNSUPPORTED_VERIFY_FIELDS);
  requireSomethingVerified(reader, legacy.length > 0 || reader.has('key') || reader.has('issuer'));

  return {
    reader,
    explicitAction,
    entry: {
      path: formatPath(path),
      imageReferences: imageReferences.map(compileImagePattern),
      skipImageReferences: skipImageReferences.map(compileImagePattern),
      attestorSets,
      repository: repository?.repository,
      signatureLocation: repository?.location,
      mutateDigest,
      verifyDigest,
      required,
      useCache,
      credentialSecrets,
      type: type === 'SigstoreBundle' ? 'SigstoreBundle' : 'Cosign',
      attestations,
    },
  };
}

/**
 * An entry that lists `attestors: []` or `attestations: []` and nothing else verifies no
 * signature, yet every image it matched would pass as verified: refused. An entry with neither
 * field at all stays a Kyverno digest-only entry (`mutateDigest` pins the digest, `verifyDigest`
 * requires one) and loads.
 */
function requireSomethingVerified(reader: FieldReader, hasLegacyAttestor: boolean): void {
  const length = (name: string) => {
    const value = reader.raw(name);
    return Array.isArray(value) ? value.length : value === undefined || value === null ? undefined : 1;
  };
  const attestors = length('attestors');
  const attestations = length('attestations');
  if (hasLegacyAttestor || (attestors ?? 0) > 0 || (attestations ?? 0) > 0) return;
  const empty = attestors === 0 ? 'attestors' : attestations === 0 ? 'attestations' : undefined;
  if (!empty) return;
  reader.problem(
    empty,
    'must not be empty: an entry with no attestors and no attestations verifies no signature, and every image it matches would be admitted as verified; list the keys, certificates or keyless identities that sign the images (or leave both fields out for a digest-only entry)',
  );
}

/**
 * `attestations[]`: `type` (or the deprecated `predicateType`), `name`, `attestors` (required:
 * Kyverno's empty attestor would accept any Sigstore certificate) and `conditions`.
 */
function readAttestation(reader: FieldReader): Attestation[] {
  const name = reader.string('name');
  const type = reader.string('type');
  const predicateType = reader.string('predicateType');
  if (type !== undefined && predicateType !== undefined && type !== predicateType) {
    reader.problem(
      'predicateType',
      `is ${JSON.stringify(predicateType)} but type is ${JSON.stringify(type)}; give one`,
    );
  }
  const resolved = type ?? predicateType;
  if (resolved === undefined) {
    reader.problem(
      'type',
      'is required (the predicateType of the in-toto statements, e.g. https://slsa.dev/provenance/v0.2)',
    );
  } else if (resolved.trim() === '') {
    reader.problem(type !== undefined ? 'type' : 'predicateType', 'must not be empty');
  }
  const attestorSets = reader.list('attestors').map(readAttestorSet);
  if (!reader.has('attestors') || (Array.isArray(reader.raw('attestors')) && attestorSets.length === 0)) {
    reader.problem(
      'attestors',
      'is required: without attestors Kyverno accepts a statement signed by any certificate of the Sigstore CA, whoever it names; give the keys, certificates or keyless identity that sign the attestation',
    );
  }
  const conditions = reader.list('conditions').map(readConditionBlock);
  reader.rejectUnknown();
  if (!resolved?.trim()) return [];
  return [
    {
      path: formatPath(reader.path),
      name,
      type: resolved,
      attestorSets,
      conditions,
      reads: conditionReads(conditions),
    },
  ];
}

function readRegistryCredentials(reader: FieldReader | undefined): string[] {
  if (!reader) return [];
  const secrets = reader.stringList('secrets');
  if (reader.boolean('allowInsecureRegistry', false)) {
    reader.problem(
      'allowInsecureRegistry',
      'is not supported: a policy cannot lower transport security; name the registry in IMAGEGATE_INSECURE_REGISTRIES',
    );
  }
  for (const provider of reader.stringList('providers')) {
    if (provider !== 'default' && provider !== 'amazon') {
      reader.problem('providers', `${provider} credential helper is not supported (default and amazon are)`);
    }
  }
  reader.rejectUnknown();
  return secrets;
}
