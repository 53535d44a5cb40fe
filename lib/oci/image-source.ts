import type { ImageSource } from '../admission/review';
import { untilAborted } from '../deadline';
import {
  fetchCosignAttestations,
  fetchCosignSignatures,
  type SignatureLayer,
  type SignatureLocation,
} from './cosign';
import { RegistryContentError } from './errors';
import { fetchSigstoreBundles, type SigstoreBundleArtifact } from './referrers';
import type { ImageReference } from './reference';
import type { RegistryClient } from './registry';

const MAX_REMEMBERED_TAGS = 10_000;

/**
 * {@link ImageSource} reading from registries through a {@link RegistryClient}. Concurrent reviews
 * of this process share in-flight requests, and a tag's digest is reused for `tagCacheMs` (a few
 * seconds: it saves the round trip for the burst of reviews one rollout sends, and it never
 * skips verifying the digest it returns).
 */
export class RegistryImageSource implements ImageSource {
  private readonly inFlight = new Map<string, Promise<unknown>>();
  private readonly tags = new Map<string, { digest: string; at: number }>();

  constructor(
    private readonly client: RegistryClient,
    private readonly options: { tagCacheMs?: number; now?: () => number } = {},
  ) {}

  async resolveDigest(ref: ImageReference, signal?: AbortSignal): Promise<string> {
    if (ref.digest) return ref.digest;
    const tag = ref.tag ?? 'latest';
    const key = `${ref.registry}/${ref.repository}:${tag}`;
    const now = (this.options.now ?? Date.now)();
    const remembered = this.tags.get(key);
    if (remembered && now - remembered.at < (this.options.tagCacheMs ?? 0)) return remembered.digest;
    const digest = await this.shared(`tag ${key}`, ref.registry, signal, async () => {
      const manifest = await this.client.getManifest(ref.registry, ref.repository, tag, signal);
      if (!manifest) {
        throw new RegistryContentError(
          'NOT_FOUND',
          ref.registry,
          `image not found: registry ${ref.registry} has no manifest ${ref.repository}:${tag}`,
        );
      }
      return manifest.digest;
    });
    if (this.options.tagCacheMs) {
      if (this.tags.size >= MAX_REMEMBERED_TAGS) this.tags.clear();
      this.tags.set(key, { digest, at: now });
    }
    return digest;
  }

  cosignSignatures(
    location: SignatureLocation,
    digest: string,
    signal?: AbortSignal,
  ): Promise<SignatureLayer[]> {
    return this.shared(
      `sig ${location.registry}/${location.repository}@${digest}`,
      location.registry,
      signal,
      () => fetchCosignSignatures(this.client, location, digest, signal),
    );
  }

  cosignAttestations(
    location: SignatureLocation,
    digest: string,
    signal?: AbortSignal,
  ): Promise<SignatureLayer[]> {
    return this.shared(
      `att ${location.registry}/${location.repository}@${digest}`,
      location.registry,
      signal,
      () => fetchCosignAttestations(this.client, location, digest, signal),
    );
  }

  sigstoreBundles(
    location: SignatureLocation,
    digest: string,
    signal?: AbortSignal,
  ): Promise<SigstoreBundleArtifact[]> {
    return this.shared(
      `bundles ${location.registry}/${location.repository}@${digest}`,
      location.registry,
      signal,
      () => fetchSigstoreBundles(this.client, location, digest, signal),
    );
  }

  /** One request for all concurrent callers with the same key; each still leaves at its own deadline. */
  private shared<T>(
    key: string,
    registry: string,
    signal: AbortSignal | undefined,
    fetch: () => Promise<T>,
  ): Promise<T> {
    let pending = this.inFlight.get(key) as Promise<T> | undefined;
    if (!pending) {
      pending = fetch().finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    return untilAborted(pending, signal, registry);
  }
}
