/**
 * The gather step: every registry read a review needs, through the image source port, and the one
 * place where work is shared. Within a review each read is made once and kept for the review;
 * across concurrent reviews a read (or a verdict being worked out) in flight is joined rather than
 * repeated. Shared work runs under its own signal, for as long as any review still waits for it
 * (so its budget is the longest waiting deadline), and each review leaves at its own deadline.
 */
import { describeError } from '../errors';
import { registryTimeout, SharedWork, type Deadline } from '../deadline';
import type { SignatureLayer, SignatureLocation, SigstoreBundleArtifact } from '../model/evidence';
import { ReviewByteBudget } from '../model/byte-budget';
import { RegistryContentError } from '../model/registry-errors';
import type { ImageReference } from '../model/image';
import type { AttestorEvidence, UnfetchedEvidence } from '../verify/spec';
import type { ImageSource } from '../ports';

/** A read's result, or what it failed with; never rejects. */
export type Settled<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };

/**
 * The work shared by the concurrent reviews of one process: one instance per process (lib/runtime.ts
 * makes it); a review without one shares nothing beyond itself.
 */
export class Gatherer {
  private readonly inFlight = new SharedWork<unknown>();

  constructor(readonly source: ImageSource) {}

  /** Keys with work in flight (for tests). */
  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** The reads of one review, until `deadline`, charged to its byte budget. */
  review(deadline: Deadline | undefined, budget: ReviewByteBudget = new ReviewByteBudget()): ReviewReads {
    return new ReviewReads(this, deadline, budget);
  }

  /**
   * `read` for `key` once for every caller waiting at the same time, under a signal of its own
   * and the longest deadline waiting when it starts (`undefined` when unknown); each caller leaves
   * at its own deadline with `timeout()`.
   */
  read<T>(
    key: string,
    deadline: Deadline | undefined,
    read: (signal: AbortSignal, at: number | undefined) => Promise<T>,
    timeout: () => Error,
  ): Promise<T> {
    return this.inFlight.join(
      key,
      deadline,
      (own) => read(own.signal, Number.isFinite(own.at) ? own.at : undefined),
      timeout,
    ) as Promise<T>;
  }

  /**
   * The verdict for `key` worked out once for every caller waiting at the same time: `work` gets
   * reads of its own (under the shared deadline, the longest waiting one, charged to the starting
   * review's budget) and runs until the last caller has left; each caller leaves at its own
   * deadline with `timeout()`.
   */
  verdict<T>(
    key: string,
    caller: ReviewReads,
    work: (reads: ReviewReads) => Promise<T>,
    timeout: () => Error,
  ): Promise<T> {
    return this.inFlight.join(
      `verdict ${key}`,
      caller.deadline,
      (own) => work(new ReviewReads(this, own, caller.budget)),
      timeout,
    ) as Promise<T>;
  }
}

/** One review's reads: each made once for the review, shared in flight with concurrent reviews. */
export class ReviewReads {
  private readonly started = new Map<string, Promise<Settled<unknown>>>();

  constructor(
    private readonly gatherer: Gatherer,
    readonly deadline: Deadline | undefined,
    readonly budget: ReviewByteBudget,
  ) {}

  digest(ref: ImageReference): Promise<Settled<string>> {
    if (ref.digest) return Promise.resolve({ ok: true, value: ref.digest });
    // Canonical registry and repository: two spellings of one image are one read.
    const key = `digest ${ref.registry}/${ref.repository}:${ref.tag ?? ''}`;
    return this.once(key, ref.registry, (signal, at) =>
      this.gatherer.source.resolveDigest(ref, signal, this.budget.review, at),
    );
  }

  cosignSignatures(location: SignatureLocation, digest: string): Promise<Settled<SignatureLayer[]>> {
    return this.once(`sig ${locationKey(location)}@${digest}`, location.registry, (signal, at) =>
      this.gatherer.source.cosignSignatures(location, digest, signal, this.budget.image(digest), at),
    );
  }

  cosignAttestations(location: SignatureLocation, digest: string): Promise<Settled<SignatureLayer[]>> {
    return this.once(`att ${locationKey(location)}@${digest}`, location.registry, (signal, at) =>
      this.gatherer.source.cosignAttestations(location, digest, signal, this.budget.image(digest), at),
    );
  }

  sigstoreBundles(location: SignatureLocation, digest: string): Promise<Settled<SigstoreBundleArtifact[]>> {
    return this.once(`bundles ${locationKey(location)}@${digest}`, location.registry, (signal, at) =>
      this.gatherer.source.sigstoreBundles(location, digest, signal, this.budget.image(digest), at),
    );
  }

  /** The read for `key`: this review's, else joined with a concurrent review's, else started. */
  private once<T>(
    key: string,
    registry: string,
    read: (signal: AbortSignal, at: number | undefined) => Promise<T>,
  ): Promise<Settled<T>> {
    let pending = this.started.get(key) as Promise<Settled<T>> | undefined;
    if (!pending) {
      pending = settle(this.gatherer.read(key, this.deadline, read, () => registryTimeout(registry)));
      this.started.set(key, pending);
    }
    return pending;
  }
}

/** The evidence at every location, by location. */
export interface GatheredEvidence {
  readonly lookup: (location: SignatureLocation) => AttestorEvidence;
}

/**
 * Legacy layers (`.sig` or `.att`) and Sigstore bundles at every location, all read at once;
 * looked up by location afterwards.
 */
export async function gatherEvidence(
  locations: readonly SignatureLocation[],
  legacyAt: (location: SignatureLocation) => Promise<Settled<SignatureLayer[]>>,
  bundlesAt: (location: SignatureLocation) => Promise<Settled<SigstoreBundleArtifact[]>>,
): Promise<GatheredEvidence> {
  const unique = new Map(locations.map((location) => [locationKey(location), location]));
  const found = await Promise.all(
    [...unique].map(async ([key, location]) => {
      const [legacy, bundles] = await Promise.all([legacyAt(location), bundlesAt(location)]);
      const evidence: AttestorEvidence = {
        legacy: legacy.ok ? { ok: true, layers: legacy.value } : unfetched(legacy.error),
        bundles: bundles.ok ? { ok: true, bundles: bundles.value } : unfetched(bundles.error),
      };
      return [key, evidence] as const;
    }),
  );
  const byLocation = new Map(found);
  const missing: AttestorEvidence = { legacy: unfetched(undefined), bundles: unfetched(undefined) };
  return { lookup: (location) => byLocation.get(locationKey(location)) ?? missing };
}

/** Why evidence could not be read: content the registry got wrong is "not trusted", the rest "could not check". */
function unfetched(error: unknown): UnfetchedEvidence {
  return error instanceof RegistryContentError
    ? { ok: false, trusted: false, reason: describeError(error), cause: error }
    : {
        ok: false,
        trusted: 'unknown',
        reason: describeError(error ?? 'signatures were not fetched'),
        cause: error,
      };
}

function locationKey(location: SignatureLocation): string {
  return `${location.registry}/${location.repository}`;
}

function settle<T>(promise: Promise<T>): Promise<Settled<T>> {
  return promise.then(
    (value) => ({ ok: true, value }),
    (error: unknown) => ({ ok: false, error }),
  );
}
