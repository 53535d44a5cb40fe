/**
 * An in-memory registry behind the `ImageSource` port, for review tests: tags point to digests,
 * digests have cosign `.sig` signatures and `.att` attestations, and any read can be made to fail.
 * Every call is recorded (with its signal), so a test can assert exactly what was fetched.
 */
import { createHash } from 'node:crypto';
import type { ImageSource } from '../../lib/ports';
import type { SignatureLayer, SignatureLocation, SigstoreBundleArtifact } from '../../lib/model/evidence';
import { RegistryContentError } from '../../lib/model/registry-errors';
import { formatReference, type ImageReference } from '../../lib/model/image';
import {
  DSSE_ENVELOPE_MEDIA_TYPE,
  dsseEnvelope,
  inTotoStatement,
  simpleSigningPayload,
  type TestKeyPair,
} from './cosign-signer';
import { signedLayer } from './signed-layers';

/** One call of the port: which read, of what (`registry/repository[:tag|@digest]`), under which signal. */
export interface SourceCall {
  readonly kind: 'resolve' | 'sig' | 'att' | 'bundles';
  readonly key: string;
  readonly signal: AbortSignal | undefined;
}

/** A scripted answer for a read nothing was stored for: a value, an error to throw, or `undefined` (the default answer). */
type Rule<A extends unknown[], T> = (...args: A) => T | Error | undefined;

export class FakeImageSource implements ImageSource {
  readonly calls: SourceCall[] = [];
  private readonly tags = new Map<string, string>();
  private readonly signatures = new Map<string, SignatureLayer[]>();
  private readonly attestations = new Map<string, SignatureLayer[]>();
  private readonly failures = new Map<string, Error>();
  private resolveRule: Rule<[ImageReference], string> = () => undefined;
  private signatureRule: Rule<[SignatureLocation, string], SignatureLayer[]> = () => undefined;

  /**
   * @param spell how a reference is spelled in `tag`/`failResolve` and in {@link resolved}:
   *   as written (default) or, say, `canonicalReference`.
   */
  constructor(private readonly spell: (ref: ImageReference) => string = formatReference) {}

  /** Images resolved to a digest, in call order. */
  get resolved(): string[] {
    return this.keysOf('resolve');
  }

  /** `.sig` reads, as `registry/repository@digest`, in call order. */
  get signatureReads(): string[] {
    return this.keysOf('sig');
  }

  /** `.sig` and `.att` reads, as `sig …` / `att …`, in call order. */
  get evidenceReads(): string[] {
    return this.calls
      .filter((call) => call.kind === 'sig' || call.kind === 'att')
      .map((c) => `${c.kind} ${c.key}`);
  }

  /** Points `image` (spelled as the constructor says, e.g. `registry/repo:tag`) at `digest`. */
  tag(image: string, digest: string): this {
    this.tags.set(image, digest);
    return this;
  }

  /** Stores a cosign signature of `repository@digest` by `pair`, as `cosign sign --key` would. */
  sign(repository: string, digest: string, pair: TestKeyPair, optional?: Record<string, string>): this {
    return this.addSignature(
      repository,
      digest,
      signedLayer(simpleSigningPayload(repository, digest, optional), pair),
    );
  }

  /** Stores `layer` among the `.sig` signatures of `repository@digest`. */
  addSignature(repository: string, digest: string, layer: SignatureLayer): this {
    push(this.signatures, `${repository}@${digest}`, layer);
    return this;
  }

  /**
   * Stores a cosign attestation of `repository@digest` by `pair`, as `cosign attest --key` would:
   * a DSSE envelope of an in-toto statement about `subject` (default: the digest itself).
   */
  attest(
    repository: string,
    digest: string,
    pair: TestKeyPair,
    predicateType: string,
    predicate: unknown,
    subject = digest,
  ): this {
    const payload = dsseEnvelope(
      inTotoStatement(repository, subject, predicateType, predicate),
      pair.privateKey,
    );
    push(this.attestations, `${repository}@${digest}`, {
      mediaType: DSSE_ENVELOPE_MEDIA_TYPE,
      digest: `sha256:${createHash('sha256').update(payload).digest('hex')}`,
      annotations: { predicateType },
      payload,
    });
    return this;
  }

  /** Resolving `image` throws `error`. */
  failResolve(image: string, error: Error): this {
    this.failures.set(`resolve ${image}`, error);
    return this;
  }

  /** Reading the `.sig` signatures of `repository@digest` throws `error`. */
  failSignatures(repository: string, digest: string, error: Error): this {
    this.failures.set(`sig ${repository}@${digest}`, error);
    return this;
  }

  /** Answers resolutions of images that were not tagged or failed (default: not found). */
  resolveWith(rule: Rule<[ImageReference], string>): this {
    this.resolveRule = rule;
    return this;
  }

  /** Answers `.sig` reads of digests that have no stored signature or failure (default: none). */
  signaturesWith(rule: Rule<[SignatureLocation, string], SignatureLayer[]>): this {
    this.signatureRule = rule;
    return this;
  }

  resolveDigest(ref: ImageReference, signal?: AbortSignal): Promise<string> {
    const image = this.spell(ref);
    this.calls.push({ kind: 'resolve', key: image, signal });
    const failure = this.failures.get(`resolve ${image}`);
    if (failure) return Promise.reject(failure);
    const digest = this.tags.get(image) ?? this.resolveRule(ref);
    if (digest instanceof Error) return Promise.reject(digest);
    if (digest === undefined) {
      return Promise.reject(new RegistryContentError('NOT_FOUND', ref.registry, `image not found: ${image}`));
    }
    return Promise.resolve(digest);
  }

  cosignSignatures(
    location: SignatureLocation,
    digest: string,
    signal?: AbortSignal,
  ): Promise<SignatureLayer[]> {
    const key = this.record('sig', location, digest, signal);
    const failure = this.failures.get(`sig ${key}`);
    if (failure) return Promise.reject(failure);
    const layers = this.signatures.get(key) ?? this.signatureRule(location, digest) ?? [];
    return layers instanceof Error ? Promise.reject(layers) : Promise.resolve(layers);
  }

  cosignAttestations(
    location: SignatureLocation,
    digest: string,
    signal?: AbortSignal,
  ): Promise<SignatureLayer[]> {
    return Promise.resolve(this.attestations.get(this.record('att', location, digest, signal)) ?? []);
  }

  /** No Sigstore bundles are stored: the review falls back to `.sig`/`.att` (ADR 6). */
  sigstoreBundles(
    location: SignatureLocation,
    digest: string,
    signal?: AbortSignal,
  ): Promise<SigstoreBundleArtifact[]> {
    this.record('bundles', location, digest, signal);
    return Promise.resolve([]);
  }

  private record(
    kind: SourceCall['kind'],
    location: SignatureLocation,
    digest: string,
    signal?: AbortSignal,
  ): string {
    const key = `${location.registry}/${location.repository}@${digest}`;
    this.calls.push({ kind, key, signal });
    return key;
  }

  private keysOf(kind: SourceCall['kind']): string[] {
    return this.calls.filter((call) => call.kind === kind).map((call) => call.key);
  }
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  map.set(key, [...(map.get(key) ?? []), value]);
}
