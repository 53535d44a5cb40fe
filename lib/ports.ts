/**
 * Every port between the review use case and the adapters, in one place: adapters implement
 * them, the use case (lib/review) and the composition root (lib/runtime.ts) depend on them.
 * Ports name only plain data (lib/model) and the compiled policy set.
 */
import type { ByteBudget } from './model/byte-budget';
import type { SignatureLayer, SignatureLocation, SigstoreBundleArtifact } from './model/evidence';
import type { ImageReference } from './model/image';
import type { PolicySet } from './policy/policy-set';
import type { TrustRootDocument } from './verify/trust-roots';

/**
 * Port: the registry reads a review needs. Implementations may cache. `budget` is the review's
 * (or, for signatures, the image's) byte budget: registry body bytes read for the call are charged
 * to it, and a read over it fails with `ResourceLimitError` ("could not check"). `deadline` (epoch
 * ms) is when the caller stops waiting; `signal` fires then.
 */
export interface ImageSource {
  /** The digest a tag points to now. */
  resolveDigest(
    ref: ImageReference,
    signal?: AbortSignal,
    budget?: ByteBudget,
    deadline?: number,
  ): Promise<string>;
  /** The cosign `.sig` signatures stored for `digest` at `location`; empty when there are none. */
  cosignSignatures(
    location: SignatureLocation,
    digest: string,
    signal?: AbortSignal,
    budget?: ByteBudget,
    deadline?: number,
  ): Promise<SignatureLayer[]>;
  /** The cosign `.att` attestations for `digest` at `location` (a layer per DSSE envelope); empty when there are none. */
  cosignAttestations(
    location: SignatureLocation,
    digest: string,
    signal?: AbortSignal,
    budget?: ByteBudget,
    deadline?: number,
  ): Promise<SignatureLayer[]>;
  /** The Sigstore bundles referring to `digest` at `location`; empty when there are none. */
  sigstoreBundles(
    location: SignatureLocation,
    digest: string,
    signal?: AbortSignal,
    budget?: ByteBudget,
    deadline?: number,
  ): Promise<SigstoreBundleArtifact[]>;
}

/** Port between the registry protocol logic and the network. */
export interface RegistryTransport {
  send(request: TransportRequest): Promise<TransportResponse>;
}

/** One HTTP exchange with a registry; the body is read whole, up to `maxBytes`. */
export interface TransportRequest {
  readonly method: 'GET' | 'HEAD' | 'POST';
  readonly url: URL;
  readonly headers: Readonly<Record<string, string>>;
  readonly maxBytes: number;
  readonly signal?: AbortSignal | undefined;
  /**
   * When the review stops waiting (epoch ms), if known: a retry never waits past it (retry.ts).
   * Passed down explicitly from the review's deadline, alongside `signal`, which fires then.
   */
  readonly deadline?: number | undefined;
  /**
   * The byte budget the body is charged to (transport.ts), if any: the review's, or for
   * signatures and attestations the image's. Passed down explicitly, as `deadline` is; a request
   * over it fails with `ResourceLimitError` ("could not check").
   */
  readonly budget?: ByteBudget | undefined;
  /**
   * Authorization header values by origin, for a request whose redirects are followed
   * (redirects.ts): each hop carries only the value for its own origin.
   */
  readonly authorizations?: ReadonlyMap<string, string> | undefined;
  /** Request body (only the OAuth2 token POST has one). */
  readonly body?: string;
  /**
   * Connect to this IP address instead of resolving `url`'s host: the address the SSRF guard
   * checked (see address-guard.ts), so that a second DNS answer cannot swap it. The Host header and the TLS
   * server name (SNI and certificate check) stay those of `url`.
   */
  readonly connectAddress?: string | undefined;
}

export interface TransportResponse {
  readonly status: number;
  /** Header names in lower case; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
  /** The URL that gave this answer, when redirects were followed (redirects.ts). */
  readonly url?: URL;
}

/** Port: the credentials for exactly this registry host, if any. */
export type CredentialLookup = (registry: string) => Promise<RegistryCredential | undefined>;

/** Credentials for one registry host, as in a Docker config `auths` entry. */
export type RegistryCredential =
  { readonly username: string; readonly password: string } | { readonly identityToken: string };

/** Resolves a host name to its IP addresses (port: the system resolver; tests inject their own). */
export type Resolver = (hostname: string) => Promise<readonly string[]>;

/** Port: the current string value of a secret (Secrets Manager in AWS, a fake in tests). */
export interface SecretReader {
  read(secretId: string): Promise<string>;
}

/** Port: the policy set in force now. Throws when no valid set could ever be loaded. */
export interface PolicyProvider {
  /** The set for `cluster` (the shared policies plus its own), or the shared set without one. */
  current(cluster?: string): Promise<PolicySet>;
}

/**
 * Port: where policy files live. A cluster sees the shared policies plus its own
 * (`common/` and `clusters/<name>/` under the configured prefix or folder).
 */
export interface PolicyStore {
  /** Human-readable location, e.g. `s3://bucket/prefix` or `./policies`. */
  readonly location: string;
  list(cluster: string | undefined): Promise<PolicyObject[]>;
  /** The text of an object listed with this etag. */
  read(object: PolicyObject): Promise<string>;
}

/** One policy object (file or S3 object) and the tag that changes whenever its content does. */
export interface PolicyObject {
  readonly key: string;
  readonly etag: string;
}

/** Port: where operational messages go (stderr for the CLI, structured logs in Lambda). */
export interface Log {
  info(message: string, ...attributes: Record<string, unknown>[]): void;
  warn(message: string, ...attributes: Record<string, unknown>[]): void;
  error(message: string, ...attributes: Record<string, unknown>[]): void;
}

/** What the provider reports about loads, for logs and metrics. */
export interface PolicyLoadEvents {
  loaded(details: { cluster: string | undefined; version: string; policies: number; objects: number }): void;
  /** A load failed; `kept` is the version still in force, if any. */
  failed(details: {
    cluster: string | undefined;
    error: string;
    problems: string[];
    kept: string | undefined;
  }): void;
}

/** The AWS-backed adapters, built only when the configuration needs them (they load the SDK). */
export interface AwsAdapters {
  policyStore(bucket: string, prefix: string): PolicyStore;
  secrets(): SecretReader;
  /** ECR tokens from the function's role, cached by the given clock (`now`, epoch ms). */
  ecrCredentials(now: () => number): { lookup: CredentialLookup; invalidate(registry: string): boolean };
  /** The trusted_root.json documents under an S3 prefix. */
  trustRootDocuments(bucket: string, prefix: string): Promise<TrustRootDocument[]>;
}

/** The time, for everything stateful that expires or measures (caches, tokens, budgets). */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}
