import { ImagegateError } from '../errors';

/**
 * Registry body bytes one review may receive: every manifest, referrers list, signature payload,
 * Sigstore bundle and attestation layer read for it. Real signatures are KBs (a cosign `.sig`
 * payload is about 300 bytes, a Sigstore or GitHub attestation bundle about 5–15 KB); the largest
 * real attestations are SBOMs of a few MB. 64 MiB is two images carrying three 10 MiB attestations
 * each (Kyverno's limit for one), or thousands of ordinary signatures.
 */
export const REVIEW_BYTE_BUDGET = 64 * 1024 * 1024;

/**
 * Registry body bytes for the signatures, bundles and attestations of one image digest within a
 * review: three of Kyverno's 10 MiB attestations and change. One hostile image cannot spend the
 * whole review's budget, so the other images of the Pod are still checked.
 */
export const IMAGE_BYTE_BUDGET = 32 * 1024 * 1024;

/**
 * Registry body bytes in flight in the whole process, counted as the `maxBytes` each request may
 * receive, reserved before it is sent: 32 manifest reads (4 MiB each) or 12 maximum-size bundle or
 * attestation reads (10 MiB) at once, whatever the number of concurrent reviews.
 */
export const BODY_BYTES_IN_FLIGHT = 128 * 1024 * 1024;

export type ResourceLimitCode = 'IMAGE_BYTE_BUDGET_EXCEEDED' | 'REVIEW_BYTE_BUDGET_EXCEEDED';

/**
 * A review (or one image of it) would receive more registry bytes than its budget. Verification
 * did not happen: "could not check" (decided by the failure policy), never "not trusted".
 */
export class ResourceLimitError extends ImagegateError<ResourceLimitCode> {
  readonly registry: string;
  readonly limit: number;

  constructor(code: ResourceLimitCode, registry: string, limit: number) {
    super(
      code,
      code === 'IMAGE_BYTE_BUDGET_EXCEEDED'
        ? `registry ${registry} sent more than ${mebibytes(limit)} for the signatures and attestations of one image (imagegate's per-image limit)`
        : `registries sent more than ${mebibytes(limit)} for this review (imagegate's per-review limit), the last bytes from ${registry}`,
    );
    this.registry = registry;
    this.limit = limit;
  }
}

/** Body bytes left to one review or one of its images; charging an image charges its review. */
export class ByteBudget {
  private used = 0;

  constructor(
    readonly limit: number,
    private readonly code: ResourceLimitCode,
    private readonly parent?: ByteBudget,
  ) {}

  /** Counts `bytes` received from `registry`; throws {@link ResourceLimitError} once over. */
  charge(bytes: number, registry: string): void {
    this.parent?.charge(bytes, registry);
    this.used += bytes;
    if (this.used > this.limit) throw new ResourceLimitError(this.code, registry, this.limit);
  }

  /** Throws when no byte is left (before a request is sent), or when `announced` bytes would not fit. */
  check(registry: string, announced = 0): void {
    this.parent?.check(registry, announced);
    if (this.used >= this.limit || this.used + announced > this.limit) {
      throw new ResourceLimitError(this.code, registry, this.limit);
    }
  }

  /** Bytes received so far. */
  get spent(): number {
    return this.used;
  }
}

/** One review's budget, with a sub-budget per image digest. */
export class ReviewByteBudget {
  readonly review: ByteBudget;
  private readonly images = new Map<string, ByteBudget>();

  constructor(
    readonly limits: { readonly review: number; readonly image: number } = {
      review: REVIEW_BYTE_BUDGET,
      image: IMAGE_BYTE_BUDGET,
    },
  ) {
    this.review = new ByteBudget(limits.review, 'REVIEW_BYTE_BUDGET_EXCEEDED');
  }

  /** The budget for the signatures and attestations of `digest` (one per digest and review). */
  image(digest: string): ByteBudget {
    let budget = this.images.get(digest);
    if (!budget) {
      budget = new ByteBudget(this.limits.image, 'IMAGE_BYTE_BUDGET_EXCEEDED', this.review);
      this.images.set(digest, budget);
    }
    return budget;
  }
}

/**
 * A weighted semaphore over bytes, first come first served: a holder of `n` units keeps the
 * others to `capacity - n`. A request larger than the capacity waits for all of it.
 */
export class ByteSemaphore {
  private used = 0;
  private readonly queue: {
    readonly units: number;
    readonly grant: () => void;
  }[] = [];

  constructor(readonly capacity: number) {}

  /**
   * Waits for `units` (capped at the capacity) and returns the function that gives them back. When
   * `signal` aborts first, the wait ends with `timeout()`.
   */
  async acquire(units: number, signal: AbortSignal | undefined, timeout: () => Error): Promise<() => void> {
    const wanted = Math.min(Math.max(0, units), this.capacity);
    if (signal?.aborted) throw timeout();
    if (this.queue.length === 0 && this.used + wanted <= this.capacity) {
      this.used += wanted;
      return this.releaser(wanted);
    }
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const index = this.queue.indexOf(waiter);
        if (index !== -1) this.queue.splice(index, 1);
        this.drain();
        reject(timeout());
      };
      const waiter = {
        units: wanted,
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      this.queue.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    return this.releaser(wanted);
  }

  /** Units held now. */
  get inUse(): number {
    return this.used;
  }

  private releaser(units: number): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used -= units;
      this.drain();
    };
  }

  private drain(): void {
    for (let head = this.queue[0]; head && this.used + head.units <= this.capacity; head = this.queue[0]) {
      this.queue.shift();
      this.used += head.units;
      head.grant();
    }
  }
}

function mebibytes(bytes: number): string {
  return bytes % (1024 * 1024) === 0 ? `${bytes / (1024 * 1024)} MiB` : `${bytes} bytes`;
}
