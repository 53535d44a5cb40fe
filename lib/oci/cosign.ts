import { RegistryContentError } from '../model/registry-errors';
import { cosignTag, isSha256Digest } from '../model/image';
import type { ReadOptions, RegistryClient } from './registry';
import { MAX_ATTESTATION_BYTES, MAX_PAYLOAD_BYTES, MAX_SIGNATURE_LAYERS } from '../model/cosign-format';
import type { SignatureLayer, SignatureLocation } from '../model/evidence';

/**
 * Fetches the legacy cosign signatures (`sha256-<hex>.sig`) of `digest`. Returns an empty list
 * when the image has no signature manifest.
 */
export function fetchCosignSignatures(
  client: RegistryClient,
  location: SignatureLocation,
  digest: string,
  options: ReadOptions = {},
): Promise<SignatureLayer[]> {
  return fetchCosignLayers(client, location, digest, 'sig', options);
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
  options: ReadOptions = {},
): Promise<SignatureLayer[]> {
  return fetchCosignLayers(client, location, digest, 'att', options);
}

async function fetchCosignLayers(
  client: RegistryClient,
  location: SignatureLocation,
  digest: string,
  suffix: 'sig' | 'att',
  options: ReadOptions,
): Promise<SignatureLayer[]> {
  const { registry, repository } = location;
  const what = suffix === 'sig' ? 'signature' : 'attestation';
  const manifest = await client.getManifest(registry, repository, cosignTag(digest, suffix), options);
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
      payloads.set(digest, client.getBlob(registry, repository, digest, limit, options));
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
