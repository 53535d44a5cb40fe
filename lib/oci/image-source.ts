import type { ImageSource } from '../ports';
import { ExpiringCache } from '../cache/expiring-cache';
import { registryTimeout, SharedWork } from '../deadline';
import { chargeRequestsTo, type ByteBudget } from './byte-budget';
import type { SignatureLayer, SignatureLocation, SigstoreBundleArtifact } from '../model/evidence';
import { fetchCosignAttestations, fetchCosignSignatures } from './cosign';
import { RegistryContentError } from './errors';
import { fetchSigstoreBundles } from './referrers';
import type { ImageReference } from './reference';
import type { RegistryClient } from './registry';

/** Most tag resolutions remembered. */
export const MAX_REMEMBERED_TAGS = 10_000;
/** Most bytes of remembered tag resolutions (keys and digests, as UTF-16). */
export const MAX_REMEMBERED_TAG_BYTES = 8 * 1024 * 1024;

/**
 * {@link ImageSource} reading from registries through a {@link RegistryClient}. Concurrent reviews
 * of this process share in-flight requests ({@link SharedWork}: a read goes on while any review
 * still waits for it, each review leaves at its own deadline, and its bytes are charged to the
 * budget of the review that started it), and a tag's digest is reused for `tagCacheMs` (a few
 * seconds: it saves the round trip for the burst of reviews one rollout sends, and it never skips
 * verifying the digest it returns), in an LRU of {@link MAX_REMEMBERED_TAGS} entries and
 * {@link MAX_REMEMBERED_TAG_BYTES}.
 */
export class RegistryImageSource implements ImageSource {
  private readonly inFlight = new SharedWork<unknown>();
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
    const digest = await this.shared(
      `tag ${key}`,
      ref.registry,
      signal,
      budget,
      deadline,
      async (shared, until) => {
        const manifest = await this.client.getManifest(ref.registry, ref.repository, tag, shared, until);
        if (!manifest) {
          throw new RegistryContentError(
            'NOT_FOUND',
            ref.registry,
            `image not found: registry ${ref.registry} has no manifest ${ref.repository}:${tag}`,
          );
        }
        return manifest.digest;
      },
    );
    this.tags.set(key, digest, this.tagCacheMs);
    return digest;
  }

  cosignSignatures(
    location: SignatureLocation,
    digest: string,
    signal?: AbortSignal,
    budget?: ByteBudget,
    deadline?: number,
  ): Promise<SignatureLayer[]> {
    return this.shared(
      `sig ${location.registry}/${location.repository}@${digest}`,
      location.registry,
      signal,
      budget,
      deadline,
      (shared, until) => fetchCosignSignatures(this.client, location, digest, shared, until),
    );
  }

  cosignAttestations(
    location: SignatureLocation,
    digest: string,
    signal?: AbortSignal,
    budget?: ByteBudget,
    deadline?: number,
  ): Promise<SignatureLayer[]> {
    return this.shared(
      `att ${location.registry}/${location.repository}@${digest}`,
      location.registry,
      signal,
      budget,
      deadline,
      (shared, until) => fetchCosignAttestations(this.client, location, digest, shared, until),
    );
  }

  sigstoreBundles(
    location: SignatureLocation,
    digest: string,
    signal?: AbortSignal,
    budget?: ByteBudget,
    deadline?: number,
  ): Promise<SigstoreBundleArtifact[]> {
    return this.shared(
      `bundles ${location.registry}/${location.repository}@${digest}`,
      location.registry,
      signal,
      budget,
      deadline,
      (shared, until) => fetchSigstoreBundles(this.client, location, digest, shared, until),
    );
  }

  /**
   * One request for all concurrent callers with the same key; each leaves at its own deadline.
   * The shared fetch gets the deadline (epoch ms) of the caller that started it, if that caller
   * passed one; otherwise its retries read the longest waiting deadline SharedWork records.
   */
  private shared<T>(
    key: string,
    registry: string,
    signal: AbortSignal | undefined,
    budget: ByteBudget | undefined,
    deadline: number | undefined,
    fetch: (signal: AbortSignal, deadline: number | undefined) => Promise<T>,
  ): Promise<T> {
    return this.inFlight.join(
      key,
      signal,
      (shared) => {
        chargeRequestsTo(shared, budget);
        return fetch(shared, deadline);
      },
      () => registryTimeout(registry),
    ) as Promise<T>;
  }
}
