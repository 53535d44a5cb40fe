import { createHash } from 'node:crypto';
import { RegistryAuth } from './auth';
import { RegistryContentError, RegistryError } from '../model/registry-errors';
import { parseJsonObject } from './json-object';
import { RedirectingTransport } from './redirects';
import { distributionRepository } from '../model/image';
import type { RegistryTransport, TransportRequest, TransportResponse } from '../ports';
import type { CredentialLookup } from '../ports';

/** Manifest and index media types imagegate understands, sent in every manifest `Accept`. */
export const MANIFEST_MEDIA_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
] as const;

/** The OCI image index media type: what the referrers API and its fallback tag answer with. */
export const OCI_INDEX_MEDIA_TYPE = 'application/vnd.oci.image.index.v1+json';

/** Statuses with which a registry says it has no referrers API (go-containerregistry falls back on them). */
const REFERRERS_UNSUPPORTED = new Set([400, 404, 405, 406, 501]);

export interface RegistryClientOptions {
  readonly transport: RegistryTransport;
  readonly credentials?: CredentialLookup;
  /** Called when the registry refused our credentials; true when fresh ones can be tried once. */
  readonly refreshCredentials?: (registry: string) => boolean;
  /** Registries (host[:port]) spoken to over plain HTTP. Every other registry uses HTTPS. */
  readonly insecureRegistries?: Iterable<string>;
  readonly maxManifestBytes?: number;
  readonly now?: () => number;
}

/** A manifest whose bytes were checked against their digest. */
export interface FetchedManifest {
  readonly digest: string;
  readonly mediaType: string;
  readonly bytes: Uint8Array;
  readonly json: Record<string, unknown>;
}

/**
 * What bounds one read, passed to every request it sends (token requests included): `signal`
 * aborts it, `deadline` (epoch ms) is when the caller stops waiting, so that retries never wait
 * past it (retry.ts), and `budget` is charged with the bodies received (transport.ts).
 */
export type ReadOptions = Pick<TransportRequest, 'signal' | 'deadline' | 'budget'>;

const DEFAULT_MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/**
 * OCI distribution client: manifests, blobs and referrer lists by tag or digest, each read
 * through the auth flow (auth.ts) with redirects followed (redirects.ts). Every manifest and blob
 * is checked against its digest before it is returned. Each read is bounded by its
 * {@link ReadOptions} (signal, deadline, byte budget), which every request it sends carries.
 */
export class RegistryClient {
  private readonly auth: RegistryAuth;
  private readonly insecure: ReadonlySet<string>;
  private readonly maxManifestBytes: number;

  constructor(options: RegistryClientOptions) {
    this.insecure = new Set(options.insecureRegistries ?? []);
    this.maxManifestBytes = options.maxManifestBytes ?? DEFAULT_MAX_MANIFEST_BYTES;
    this.auth = new RegistryAuth({
      reads: new RedirectingTransport(options.transport),
      tokens: options.transport,
      credentials: options.credentials,
      refreshCredentials: options.refreshCredentials,
      insecure: this.insecure,
      now: options.now ?? Date.now,
    });
  }

  /** What the Bearer-token cache holds now (entries, and characters of keys and tokens). */
  tokenCacheSize(): { entries: number; bytes: number } {
    return this.auth.tokenCacheSize();
  }

  /**
   * Fetches a manifest by tag or digest; `undefined` when the registry says it does not exist.
   * The digest returned is sha256 of the bytes received.
   */
  async getManifest(
    registry: string,
    repository: string,
    reference: string,
    options: ReadOptions = {},
  ): Promise<FetchedManifest | undefined> {
    const response = await this.get(registry, repository, `manifests/${reference}`, options, {
      accept: MANIFEST_MEDIA_TYPES.join(', '),
      maxBytes: this.maxManifestBytes,
    });
    if (response.status === 404) return undefined;
    this.expectOk(registry, response, `manifest ${repository}:${reference}`);

    const digest = sha256Digest(response.body);
    const announced = response.headers['docker-content-digest'];
    if (reference.startsWith('sha256:') && reference !== digest) {
      throw new RegistryContentError(
        'DIGEST_MISMATCH',
        registry,
        `registry ${registry} served manifest bytes with digest ${digest} for ${repository}@${reference}`,
      );
    }
    if (announced?.startsWith('sha256:') && announced !== digest) {
      throw new RegistryContentError(
        'DIGEST_MISMATCH',
        registry,
        `registry ${registry} announced digest ${announced} but served bytes with digest ${digest}`,
      );
    }

    const json = parseJsonObject(response.body, registry, `manifest ${repository}:${reference}`);
    const contentType = response.headers['content-type']?.split(';')[0]?.trim();
    const mediaType = typeof json.mediaType === 'string' ? json.mediaType : contentType;
    if (!mediaType || !(MANIFEST_MEDIA_TYPES as readonly string[]).includes(mediaType)) {
      throw new RegistryContentError(
        'UNEXPECTED_MEDIA_TYPE',
        registry,
        `registry ${registry} served ${repository}:${reference} with unexpected media type ${mediaType ?? '(none)'}`,
      );
    }
    return { digest, mediaType, bytes: response.body, json };
  }

  /** Fetches a blob and checks it against `digest`. */
  async getBlob(
    registry: string,
    repository: string,
    digest: string,
    maxBytes: number,
    options: ReadOptions = {},
  ): Promise<Uint8Array> {
    const response = await this.get(registry, repository, `blobs/${digest}`, options, { maxBytes });
    this.expectOk(registry, response, `blob ${repository}@${digest}`);
    const actual = sha256Digest(response.body);
    if (actual !== digest) {
      throw new RegistryContentError(
        'DIGEST_MISMATCH',
        registry,
        `registry ${registry} served blob bytes with digest ${actual} for ${repository}@${digest}`,
      );
    }
    return response.body;
  }

  /**
   * Lists the referrers of `digest` with the OCI 1.1 referrers API
   * (`GET /v2/<name>/referrers/<digest>`). `undefined` when the registry does not offer the API
   * (404, 400, 405, 406 or 501, or an answer that is not an OCI index), so that the caller falls
   * back to the `sha256-<hex>` tag, as go-containerregistry does. The listing is not
   * content-addressed: each manifest it names is fetched (and digest-checked) separately.
   */
  async listReferrers(
    registry: string,
    repository: string,
    digest: string,
    options: ReadOptions = {},
  ): Promise<FetchedManifest | undefined> {
    const response = await this.get(registry, repository, `referrers/${digest}`, options, {
      accept: OCI_INDEX_MEDIA_TYPE,
      maxBytes: this.maxManifestBytes,
    });
    if (REFERRERS_UNSUPPORTED.has(response.status)) return undefined;
    this.expectOk(registry, response, `referrers of ${repository}@${digest}`);
    const contentType = response.headers['content-type']?.split(';')[0]?.trim();
    if (contentType !== OCI_INDEX_MEDIA_TYPE) return undefined;
    const json = parseJsonObject(response.body, registry, `referrers list of ${repository}@${digest}`);
    return {
      digest: sha256Digest(response.body),
      mediaType: OCI_INDEX_MEDIA_TYPE,
      bytes: response.body,
      json,
    };
  }

  private expectOk(registry: string, response: TransportResponse, what: string): void {
    if (response.status === 200) return;
    if (response.status === 401 || response.status === 403) {
      throw new RegistryError('REGISTRY_AUTH', registry, `registry ${registry} refused access to ${what}`, {
        status: response.status,
      });
    }
    throw new RegistryError(
      'REGISTRY_HTTP',
      registry,
      `registry ${registry} answered HTTP ${response.status} for ${what}`,
      { status: response.status },
    );
  }

  private baseUrl(registry: string): string {
    const scheme = this.insecure.has(registry) ? 'http' : 'https';
    const host = registry === 'docker.io' ? 'registry-1.docker.io' : registry;
    return `${scheme}://${host}`;
  }

  private get(
    registry: string,
    repository: string,
    path: string,
    options: ReadOptions,
    expected: { accept?: string; maxBytes: number },
  ): Promise<TransportResponse> {
    // Docker Hub serves official images under library/ (`nginx` at /v2/library/nginx/…).
    const name = distributionRepository(registry, repository);
    const headers: Record<string, string> = {};
    if (expected.accept) headers.accept = expected.accept;
    return this.auth.get({
      registry,
      scope: `repository:${name}:pull`,
      request: {
        url: new URL(`${this.baseUrl(registry)}/v2/${name}/${path}`),
        headers,
        maxBytes: expected.maxBytes,
        signal: options.signal,
        deadline: options.deadline,
        budget: options.budget,
      },
    });
  }
}

/** `sha256:<hex>` of some bytes. */
export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}
