import { describeError } from '../errors';
import type { SignatureLayer, SignatureLocation } from '../oci/cosign';
import { ImageReferenceError, RegistryContentError } from '../oci/errors';
import { formatReference, parseImageReference, type ImageReference } from '../oci/reference';
import { selectRules, type RuleBinding } from '../policy/match';
import type { PolicySet } from '../policy/policy-set';
import type { ImageVerification, KeyAttestor } from '../policy/types';
import { matchesAny } from '../policy/wildcard';
import { decide, type ImageCheckResult } from '../decision/decide';
import { evaluateAttestorSets, leafAttestors, type FetchedSignatures } from '../verify/attestors';
import { policySetAnnotationPatch, recordedPolicySet } from '../patch/annotations';
import { extractImageSites, type ImageSite } from '../workload/images';
import type { AdmissionDecision, AdmissionRequest } from './types';

/** Port: the registry reads a review needs. Implementations may cache and share work. */
export interface ImageSource {
  /** The digest a tag points to now. */
  resolveDigest(ref: ImageReference, signal?: AbortSignal): Promise<string>;
  /** The cosign `.sig` signatures stored for `digest` at `location`; empty when there are none. */
  cosignSignatures(
    location: SignatureLocation,
    digest: string,
    signal?: AbortSignal,
  ): Promise<SignatureLayer[]>;
}

/** One image of the resource that one verifyImages entry of one rule must check. */
interface PlannedCheck {
  readonly binding: RuleBinding;
  readonly entry: ImageVerification;
  readonly site: ImageSite;
  /** Kyverno's normalised form of the image, used in patterns and messages. */
  readonly image: string;
  readonly ref: ImageReference | ImageReferenceError;
  readonly skipped: boolean;
}

type Settled<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };

/**
 * Reviews one admission request: selects the rules that apply, fetches every digest and
 * signature they need (each once, all in parallel), then decides with pure functions.
 */
export async function reviewAdmission(
  request: AdmissionRequest,
  policySet: PolicySet,
  source: ImageSource,
  signal?: AbortSignal,
): Promise<AdmissionDecision> {
  if (request.operation === 'DELETE' || request.operation === 'CONNECT') return decide(request, []);
  const { checks, matchedSites } = planChecks(request, selectRules(policySet, request), policySet.version);
  const active = checks.filter((check) => !check.skipped && !(check.ref instanceof ImageReferenceError));

  const digests = new Map<string, Promise<Settled<string>>>();
  const signatures = new Map<string, Promise<Settled<SignatureLayer[]>>>();
  const work: Promise<unknown>[] = [];
  for (const check of active) {
    const ref = check.ref as ImageReference;
    const refKey = formatReference(ref);
    let digest = digests.get(refKey);
    if (!digest) {
      digest = settle(ref.digest ? Promise.resolve(ref.digest) : source.resolveDigest(ref, signal));
      digests.set(refKey, digest);
    }
    for (const location of signatureLocations(check)) {
      work.push(
        digest.then((resolved) => {
          if (!resolved.ok) return;
          const key = `${location.registry}/${location.repository}@${resolved.value}`;
          if (!signatures.has(key)) {
            signatures.set(key, settle(source.cosignSignatures(location, resolved.value, signal)));
          }
          return signatures.get(key);
        }),
      );
    }
  }
  await Promise.all(work);
  const resolvedDigests = await settleAll(digests);
  const fetchedSignatures = await settleAll(signatures);

  const results = checks.map((check) => evaluateCheck(check, resolvedDigests, fetchedSignatures));
  const decision = decide(request, results);
  // Subresource updates (pods/ephemeralcontainers) cannot change metadata.
  if (!decision.allowed || matchedSites === 0 || request.subResource) return decision;
  return {
    ...decision,
    patch: [...decision.patch, ...policySetAnnotationPatch(request.object, policySet.version)],
  };
}

/**
 * Pairs every image site with every verifyImages entry whose references match it. On UPDATE, a
 * site whose image is the same as in the stored object is left out when the stored object was
 * checked under this very policy set (its `imagegate.io/policy-set` annotation); `matchedSites` counts
 * those too.
 */
function planChecks(
  request: AdmissionRequest,
  bindings: readonly RuleBinding[],
  policySetVersion: string,
): { checks: PlannedCheck[]; matchedSites: number } {
  const checks: PlannedCheck[] = [];
  let matchedSites = 0;
  const kind = request.kind.kind;
  const previous =
    request.operation === 'UPDATE' && recordedPolicySet(request.oldObject) === policySetVersion
      ? request.oldObject
      : undefined;
  for (const binding of bindings) {
    const locators = binding.rule.imageExtractors[kind];
    const sites = extractImageSites(kind, request.object, locators);
    const unchanged = new Map(
      previous ? extractImageSites(kind, previous, locators).map((site) => [site.pointer, site.image]) : [],
    );
    for (const entry of binding.rule.verifyImages) {
      for (const site of sites) {
        let ref: ImageReference | ImageReferenceError;
        try {
          ref = parseImageReference(site.image);
        } catch (error) {
          if (!(error instanceof ImageReferenceError)) throw error;
          ref = error;
        }
        const image = ref instanceof ImageReferenceError ? site.image : formatReference(ref);
        if (!matchesAny(entry.imageReferences, image)) continue;
        matchedSites++;
        if (unchanged.get(site.pointer) === site.image) continue;
        const skipped = matchesAny(entry.skipImageReferences, image);
        checks.push({ binding, entry, site, image, ref, skipped });
      }
    }
  }
  return { checks, matchedSites };
}

/** Where the signatures for each attestor of an entry live: entry, then rule `repository`, else the image's. */
function signatureLocations(check: PlannedCheck): SignatureLocation[] {
  const unique = new Map<string, SignatureLocation>();
  for (const attestor of leafAttestors(check.entry.attestorSets)) {
    const location = locationFor(check, attestor);
    unique.set(`${location.registry}/${location.repository}`, location);
  }
  return [...unique.values()];
}

function locationFor(check: PlannedCheck, attestor: KeyAttestor): SignatureLocation {
  const override = attestor.repository ?? check.entry.repository;
  if (override) {
    const parsed = parseImageReference(override);
    return { registry: parsed.registry, repository: parsed.repository };
  }
  const ref = check.ref as ImageReference;
  return { registry: ref.registry, repository: ref.repository };
}

function evaluateCheck(
  check: PlannedCheck,
  digests: ReadonlyMap<string, Settled<string>>,
  signatures: ReadonlyMap<string, Settled<SignatureLayer[]>>,
): ImageCheckResult {
  const base = { binding: check.binding, entry: check.entry, site: check.site, image: check.image };
  if (check.ref instanceof ImageReferenceError) {
    return {
      ...base,
      status: 'fail',
      message: `image verification failed for ${check.image}: ${check.ref.message}`,
    };
  }
  if (check.skipped)
    return { ...base, status: 'skip', message: `image ${check.image} skipped by skipImageReferences` };
  const ref = check.ref;

  const resolved = digests.get(formatReference(ref));
  if (!resolved?.ok) return failureResult(base, check.image, resolved?.error);
  const digest = resolved.value;

  const outcome = evaluateAttestorSets(check.entry.attestorSets, digest, (attestor): FetchedSignatures => {
    const location = locationFor(check, attestor);
    const fetched = signatures.get(`${location.registry}/${location.repository}@${digest}`);
    if (fetched?.ok) return { ok: true, layers: fetched.value };
    const error = fetched?.error;
    return error instanceof RegistryContentError
      ? { ok: false, trusted: false, reason: describeError(error) }
      : { ok: false, trusted: 'unknown', reason: describeError(error ?? 'signatures were not fetched') };
  });
  switch (outcome.status) {
    case 'pass':
      // verifyDigest: an image left unpinned (mutateDigest off) could be swapped after this check.
      if (!ref.digest && !check.entry.mutateDigest && check.entry.verifyDigest) {
        return { ...base, status: 'fail', message: `missing digest for ${check.image}` };
      }
      return {
        ...base,
        status: 'pass',
        message: `verified image signatures for ${check.image}`,
        digest,
        ref,
      };
    case 'fail':
      return {
        ...base,
        status: 'fail',
        message: `image verification failed for ${check.image}: ${outcome.reason}`,
      };
    case 'error':
      return {
        ...base,
        status: 'error',
        message: `could not verify image ${check.image}: ${outcome.reason}`,
      };
  }
}

/**
 * A digest that could not be resolved: content the registry got wrong (or no such image) is
 * "not trusted"; anything else — the registry could not be asked, or an internal fault — is
 * "could not check", decided by the failure policy.
 */
function failureResult(
  base: Pick<ImageCheckResult, 'binding' | 'entry' | 'site' | 'image'>,
  image: string,
  error: unknown,
): ImageCheckResult {
  if (error instanceof RegistryContentError) {
    return { ...base, status: 'fail', message: `image verification failed for ${image}: ${error.message}` };
  }
  return { ...base, status: 'error', message: `could not verify image ${image}: ${describeError(error)}` };
}

function settle<T>(promise: Promise<T>): Promise<Settled<T>> {
  return promise.then(
    (value) => ({ ok: true, value }),
    (error: unknown) => ({ ok: false, error }),
  );
}

async function settleAll<T>(map: ReadonlyMap<string, Promise<Settled<T>>>): Promise<Map<string, Settled<T>>> {
  const entries = await Promise.all([...map].map(async ([key, promise]) => [key, await promise] as const));
  return new Map(entries);
}
