import { RegistryContentError } from './errors';
import { cosignTag, isSha256Digest } from './reference';
import type { RegistryClient } from './registry';

/** One cosign signature: a layer of the `.sig` manifest and its payload bytes. */
export interface SignatureLayer {
  readonly mediaType: string;
  readonly digest: string;
  readonly annotations: Readonly<Record<string, string>>;
  readonly payload: Uint8Array;
}

/** Where cosign attachments are stored: the image's own repository unless a policy says otherwise. */
export interface SignatureLocation {
  readonly registry: string;
  readonly repository: string;
}

export const COSIGN_SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';

/** The `.att` layer annotation naming the statement's predicate type (unsigned: only a hint). */
export const COSIGN_PREDICATE_TYPE_ANNOTATION = 'predicateType';
/** Media type of a `.att` layer: the DSSE envelope JSON. */
export const DSSE_ENVELOPE_MEDIA_TYPE = 'application/vnd.dsse.envelope.v1+json';

/** Most layers of one `.sig` or `.att` manifest. */
export const MAX_SIGNATURE_LAYERS = 100;
/** Most bytes of one `.sig` payload (a simple-signing payload is about 300 bytes). */
export const MAX_PAYLOAD_BYTES = 1024 * 1024;
/**
 * An attestation (an SBOM, a scan) is larger than a signature payload; Kyverno's bundle limit.
 * Whatever the layer count, the image's byte budget (byte-budget.ts) caps what one image reads.
 */
export const MAX_ATTESTATION_BYTES = 10 * 1024 * 1024;

/**
 * Fetches the legacy cosign signatures (`sha256-<hex>.sig`) of `digest`. Returns an empty list
 * when the image has no signature manifest.
 */
export function fetchCosignSignatures(
  client: RegistryClient,
  location: SignatureLocation,
  digest: string,
  signal?: AbortSignal,
): Promise<SignatureLayer[]> {
  return fetchCosignLayers(client, location, digest, 'sig', signal);
}

/**
 * Fetches the legacy cosign attestations (`sha256-<hex>.att`, cosign-formats §2) of `digest`: one
 * layer per attestation, its payload the DSSE envelope bytes exactly as stored. Returns an empty
 * list when the image has no attestation manifest.
 */
export function fetchCosignAttestations(
  client: RegistryClient,
  location: SignatureLocation,
  digest: string,
  signal?: AbortSignal,
): Promise<SignatureLayer[]> {
  return fetchCosignLayers(client, location, digest, 'att', signal);
}

async function fetchCosignLayers(
  client: RegistryClient,
  location: SignatureLocation,
  digest: string,
  suffix: 'sig' | 'att',
  signal?: AbortSignal,
): Promise<SignatureLayer[]> {
  const { registry, repository } = location;
  const what = suffix === 'sig' ? 'signature' : 'attestation';
  const manifest = await client.getManifest(registry, repository, cosignTag(digest, suffix), signal);
  if (!manifest) return [];

  const layers = manifest.json.layers;
  if (!Array.isArray(layers)) {
    throw new RegistryContentError(
      'MALFORMED',
      registry,
      `${what} manifest of ${digest} in ${repository} has no layers`,
    );
  }
  if (layers.length > MAX_SIGNATURE_LAYERS) {
    throw new RegistryContentError(
      'TOO_LARGE',
      registry,
      `${what} manifest of ${digest} in ${repository} has ${layers.length} layers (limit ${MAX_SIGNATURE_LAYERS})`,
    );
  }
  const descriptors = layers.map((layer) => parseDescriptor(layer, registry, what));
  const limit = suffix === 'sig' ? MAX_PAYLOAD_BYTES : MAX_ATTESTATION_BYTES;
  // Several signers of one image sign the same payload: each distinct blob is fetched once.
  const payloads = new Map<string, Promise<Uint8Array>>();
  for (const { digest } of descriptors) {
    if (!payloads.has(digest)) {
      payloads.set(digest, client.getBlob(registry, repository, digest, limit, signal));
    }
  }
  return Promise.all(
    descriptors.map(async (descriptor) => ({
      ...descriptor,
      payload: await payloads.get(descriptor.digest)!,
    })),
  );
}

function parseDescriptor(
  value: unknown,
  registry: string,
  what: 'signature' | 'attestation',
): Omit<SignatureLayer, 'payload'> {
  const layer = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  const digest = layer.digest;
  if (typeof digest !== 'string' || !isSha256Digest(digest)) {
    throw new RegistryContentError('MALFORMED', registry, `${what} layer without a sha256 digest`);
  }
  const annotations: Record<string, string> = {};
  if (typeof layer.annotations === 'object' && layer.annotations !== null) {
    for (const [key, annotation] of Object.entries(layer.annotations)) {
      if (typeof annotation === 'string') annotations[key] = annotation;
    }
  }
  return { mediaType: typeof layer.mediaType === 'string' ? layer.mediaType : '', digest, annotations };
}
