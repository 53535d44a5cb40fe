import { MAX_BUNDLE_BYTES, MAX_REFERRERS, SIGSTORE_BUNDLE_PREFIX } from '../model/cosign-format';
import type { SigstoreBundleArtifact, SignatureLocation } from '../model/evidence';
import { RegistryContentError } from '../model/registry-errors';
import { isSha256Digest } from '../model/image';
import {
  OCI_INDEX_MEDIA_TYPE,
  type FetchedManifest,
  type ReadOptions,
  type RegistryClient,
} from './registry';

/**
 * Fetches the Sigstore bundles that refer to `digest` (cosign-formats §3.3): the referrers API,
 * keeping entries whose `artifactType` is a Sigstore bundle; when the registry has no referrers
 * API, the referrers tag `sha256-<hex>` (an OCI index), opening every manifest it lists rather
 * than trusting the listed types (old cosign wrote wrong ones). A referrer that is not a
 * one-layer Sigstore bundle manifest for this digest is skipped, as cosign does. Empty when there
 * are none. Registry failures throw `RegistryError`, content that fails its digest or is over a
 * limit `RegistryContentError` (ADR 3).
 */
export async function fetchSigstoreBundles(
  client: RegistryClient,
  location: SignatureLocation,
  digest: string,
  options: ReadOptions = {},
): Promise<SigstoreBundleArtifact[]> {
  const { registry, repository } = location;
  const listed = await client.listReferrers(registry, repository, digest, options);
  let candidates: string[];
  if (listed) {
    candidates = descriptors(listed)
      .filter((descriptor) => descriptor.artifactType?.startsWith(SIGSTORE_BUNDLE_PREFIX))
      .map((descriptor) => descriptor.digest);
  } else {
    const index = await client.getManifest(registry, repository, digest.replace(':', '-'), options);
    if (!index || index.mediaType !== OCI_INDEX_MEDIA_TYPE) return [];
    candidates = descriptors(index).map((descriptor) => descriptor.digest);
  }
  candidates = [...new Set(candidates)];
  if (candidates.length > MAX_REFERRERS) {
    throw new RegistryContentError(
      'TOO_LARGE',
      registry,
      `${candidates.length} referrers of ${digest} in ${repository} (limit ${MAX_REFERRERS})`,
    );
  }
  const bundles = await Promise.all(
    candidates.map(async (candidate) => {
      const manifest = await client.getManifest(registry, repository, candidate, options).catch(skipForeign);
      const layer = manifest && bundleLayer(manifest, digest);
      if (!manifest || !layer) return [];
      const bytes = await client.getBlob(registry, repository, layer.digest, MAX_BUNDLE_BYTES, options);
      return [{ manifestDigest: manifest.digest, mediaType: layer.mediaType, bytes }];
    }),
  );
  return bundles.flat();
}

/**
 * A referrer that is not an image manifest we can read (another tool's artifact) is skipped, as
 * cosign does; bytes that do not match their digest, and registry failures, are not.
 */
function skipForeign(error: unknown): undefined {
  if (
    error instanceof RegistryContentError &&
    (error.code === 'UNEXPECTED_MEDIA_TYPE' || error.code === 'MALFORMED')
  ) {
    return undefined;
  }
  throw error;
}

interface Descriptor {
  readonly digest: string;
  readonly mediaType: string;
  readonly artifactType: string | undefined;
}

function descriptors(index: FetchedManifest): Descriptor[] {
  const manifests = index.json.manifests;
  if (!Array.isArray(manifests)) return [];
  return manifests.flatMap((item: unknown) => {
    const descriptor = item as { digest?: unknown; mediaType?: unknown; artifactType?: unknown } | null;
    if (typeof descriptor?.digest !== 'string' || !isSha256Digest(descriptor.digest)) return [];
    return [
      {
        digest: descriptor.digest,
        mediaType: typeof descriptor.mediaType === 'string' ? descriptor.mediaType : '',
        artifactType: typeof descriptor.artifactType === 'string' ? descriptor.artifactType : undefined,
      },
    ];
  });
}

/** The bundle layer of a referrer manifest: an image manifest for `subject` with exactly one bundle layer. */
function bundleLayer(
  manifest: FetchedManifest,
  subject: string,
): { digest: string; mediaType: string } | undefined {
  const { json } = manifest;
  if (!Array.isArray(json.layers)) return undefined;
  const referred = (json.subject as { digest?: unknown } | undefined)?.digest;
  if (referred !== undefined && referred !== subject) return undefined;
  const layers = json.layers.filter((layer: unknown) => {
    const mediaType = (layer as { mediaType?: unknown } | null)?.mediaType;
    return typeof mediaType === 'string' && mediaType.startsWith(SIGSTORE_BUNDLE_PREFIX);
  }) as { digest?: unknown; mediaType: string }[];
  const [layer] = layers;
  if (layers.length !== 1 || !layer || typeof layer.digest !== 'string' || !isSha256Digest(layer.digest)) {
    return undefined;
  }
  return { digest: layer.digest, mediaType: layer.mediaType };
}
