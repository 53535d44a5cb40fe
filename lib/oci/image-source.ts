import type { ImageSource } from '../admission/review';
import { fetchCosignSignatures, type SignatureLayer, type SignatureLocation } from './cosign';
import { RegistryContentError } from './errors';
import type { ImageReference } from './reference';
import type { RegistryClient } from './registry';

/** {@link ImageSource} reading straight from registries through a {@link RegistryClient}. */
export class RegistryImageSource implements ImageSource {
  constructor(private readonly client: RegistryClient) {}

  async resolveDigest(ref: ImageReference, signal?: AbortSignal): Promise<string> {
    const reference = ref.digest ?? ref.tag ?? 'latest';
    const manifest = await this.client.getManifest(ref.registry, ref.repository, reference, signal);
    if (!manifest) {
      throw new RegistryContentError(
        'NOT_FOUND',
        ref.registry,
        `image not found: registry ${ref.registry} has no manifest ${ref.repository}:${reference}`,
      );
    }
    return manifest.digest;
  }

  cosignSignatures(
    location: SignatureLocation,
    digest: string,
    signal?: AbortSignal,
  ): Promise<SignatureLayer[]> {
    return fetchCosignSignatures(this.client, location, digest, signal);
  }
}
