import type { ImageSource } from '../ports';
import { ExpiringCache } from '../cache/expiring-cache';
import type { ByteBudget } from '../model/byte-budget';
import type { SignatureLayer, SignatureLocation, SigstoreBundleArtifact } from '../model/evidence';
import { fetchCosignAttestations, fetchCosignSignatures } from './cosign';
import { RegistryContentError } from '../model/registry-errors';
import { fetchSigstoreBundles } from './referrers';
import type { ImageReference } from '../model/image';
import type { RegistryClient } from './registry';

/** Most tag resolutions remembered. */
export const MAX_REMEMBERED_TAGS = 10_000;
/** Most bytes of remembered tag resolutions (keys and digests, as UTF-16). */
export const MAX_REMEMBERED_TAG_BYTES = 8 * 1024 * 1024;

/**
 * {@link ImageSource} reading from registries through a {@link RegistryClient}: each call is one
 * read, made under the caller's signal and deadline, its bytes charged to the caller's budget
 * (sharing reads between reviews is the gather step's job, lib/review/gather.ts). A tag's digest
 * is reused for `tagCacheMs` (a few seconds: it saves the round trip for the burst of reviews one
 * rollout sends, and it never skips verifying the digest it returns), in an LRU of
 * {@link MAX_REMEMBERED_TAGS} entries and {@link MAX_REMEMBERED_TAG_BYTES}.
 */
export class RegistryImageSource implements ImageSource {
  private readonly tags: ExpiringCache<string>;
  private readonly tagCacheMs: number;

  constructor(
    private readonly client: RegistryClient,
    options: { tagCacheMs?: number; now?: () => number } = {},
  ) {
    this.tagCacheMs = options.tagCacheMs ?? 0;
    this.tags = new ExpiringCache<string>({
      maxEntries: MAX_REMEMBERED_TAGS,
      maxBytes: MAX_REMEMBERED_TAG_BYTES,
      size: (digest, key) => 2 * (key.length + digest.length),
      now: options.now,
    });
  }

  /** Tag resolutions remembered now. */
  get rememberedTags(): number {
    return this.tags.size;
  }

  async resolveDigest(
    ref: ImageReference,
    signal?: AbortSignal,
    budget?: ByteBudget,
    deadline?: number,
  ): Promise<string> {
    if (ref.digest) return ref.digest;
    const tag = ref.tag ?? 'latest';
    const key = `${ref.registry}/${ref.repository}:${tag}`;
    const remembered = this.tags.get(key);
    if (remembered) return remembered;
    const manifest = await this.client.getManifest(ref.registry, ref.repository, tag, {
      signal,
      deadline,
      budget,
    });
    if (!manifest) {
      throw new RegistryContentError(
        'NOT_FOUND',
        ref.registry,
        `image not found: registry ${ref.registry} has no manifest ${ref.repository}:${tag}`,
      );
    }
    this.tags.set(key, manifest.digest, this.tagCacheMs);
    return manifest.digest;
  }

  cosignSignatures(
    location: SignatureLocation,
    digest: string,
    signal?: AbortSignal,
    budget?: ByteBudget,
    deadline?: number,
  ): Promise<SignatureLayer[]> {
    return fetchCosignSignatures(this.client, location, digest, { signal, deadline, budget });
  }

  cosignAttestations(
    location: SignatureLocation,
    digest: string,
    signal?: AbortSignal,
    budget?: ByteBudget,
    deadline?: number,
  ): Promise<SignatureLayer[]> {
    return fetchCosignAttestations(this.client, location, digest, { signal, deadline, budget });
  }

  sigstoreBundles(
    location: SignatureLocation,
    digest: string,
    signal?: AbortSignal,
    budget?: ByteBudget,
    deadline?: number,
  ): Promise<SigstoreBundleArtifact[]> {
    return fetchSigstoreBundles(this.client, location, digest, { signal, deadline, budget });
  }
}
