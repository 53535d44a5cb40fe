/**
 * The review's plan: which (rule, verifyImages entry, image site) pairs an admission request must
 * check, where each attestor's signatures live, and what a cached verdict depends on. Pure: no I/O.
 */
import { createHash } from 'node:crypto';
import type { SignatureLocation } from '../model/evidence';
import { ImageReferenceError } from '../model/registry-errors';
import { displayImageText, formatReference, parseImageReference, type ImageReference } from '../model/image';
import { imageSpellings, spellingsMatchAny } from '../policy/image-patterns';
import type { RuleBinding } from '../policy/match';
import { imagesVariable, preconditionsHold, requestVariable } from '../policy/variables';
import type { AttestorSet, ImageVerification, LeafAttestor } from '../policy/types';
import { leafAttestors } from '../verify/attestor-sets';
import {
  recordedVerification,
  verificationFingerprint,
  verifiedImageKey,
  type VerifiedImage,
} from '../decision/patch';
import { extractImageSites, type ImageSite } from '../workload/images';
import type { AdmissionRequest } from '../model/admission';

/** One image of the resource that one verifyImages entry of one rule must check. */
export interface PlannedCheck {
  readonly binding: RuleBinding;
  readonly entry: ImageVerification;
  readonly site: ImageSite;
  /** Kyverno's normalised form of the image, used in patterns and messages. */
  readonly image: string;
  readonly ref: ImageReference | ImageReferenceError;
  readonly skipped: boolean;
  /** `request` and `images` for attestation conditions, built on first use. */
  readonly variables: () => Readonly<Record<string, unknown>>;
}

/**
 * What a verdict depends on besides the digest: attestation conditions that read `image` make it
 * depend on the image reference (its tag), ones that read `request` or `images` on the request
 * (what they read is known since the policy was compiled).
 */
export function conditionInputs(check: PlannedCheck): string {
  const { attestations } = check.entry;
  let inputs = '';
  if (attestations.some(({ reads }) => reads.image)) inputs += `|image=${check.image}`;
  if (attestations.some(({ reads }) => reads.request || reads.images)) {
    inputs += `|request=${createHash('sha256').update(JSON.stringify(check.variables())).digest('hex')}`;
  }
  return inputs;
}

/** Identifies a verifyImages entry (and so its attestors) within a policy set version. */
export function attestorKey(check: PlannedCheck): string {
  const { policy } = check.binding;
  return `${policy.kind}/${policy.namespace ?? ''}/${policy.name}/${check.binding.rule.name}/${check.entry.path}`;
}

/** A rule that applies to the request but was skipped: its preconditions did not hold. */
export interface UnmetPreconditions {
  readonly binding: RuleBinding;
  /** The conditions that did not hold (their `message`, or a description). */
  readonly failed: readonly string[];
}

/** What {@link planChecks} found. */
export interface CheckPlan {
  /** The checks to verify now. */
  readonly checks: PlannedCheck[];
  /** (entry, site) pairs whose `imageReferences` matched, skipped ones and unreadable references included. */
  readonly matchedSites: number;
  /** Every (rule, entry, site) that applies, verified now or at the last write. */
  readonly applicable: PlannedCheck[];
  /** Rules skipped for their preconditions, as data for decision records. */
  readonly unmetPreconditions: readonly UnmetPreconditions[];
}

/**
 * Pairs every image site with every verifyImages entry whose references match it (`applicable`,
 * counted by `matchedSites`); `checks` are those to verify now. On UPDATE a pair is left out of
 * `checks` only when the stored object's `imagegate.io/policy-set` annotation records the current
 * policy set and exactly the pairs the current rules find in the stored object — so every entry
 * that applies now verified that image there — and the pair is one of them (ADR 4).
 */
export function planChecks(
  request: AdmissionRequest,
  bindings: readonly RuleBinding[],
  policySetVersion: string,
): CheckPlan {
  const checks: PlannedCheck[] = [];
  const unmetPreconditions: UnmetPreconditions[] = [];
  let matchedSites = 0;
  const kind = request.kind.kind;
  let requestContext: Record<string, unknown> | undefined;
  const recorded = request.operation === 'UPDATE' ? recordedVerification(request.oldObject) : undefined;
  const previous = recorded?.policySet === policySetVersion ? request.oldObject : undefined;
  for (const binding of bindings) {
    // A rule whose preconditions do not hold is skipped, as Kyverno reports it: no check, no warning.
    const preconditions = preconditionsHold(binding.rule, request);
    if (!preconditions.passed) {
      unmetPreconditions.push({ binding, failed: preconditions.failed });
      continue;
    }
    let ruleContext: Record<string, unknown> | undefined;
    const variables = () =>
      (ruleContext ??= {
        request: (requestContext ??= requestVariable(request)),
        images: imagesVariable(request, binding.rule),
      });
    const locators = binding.rule.imageExtractors[kind];
    // Each site's reference is read, and its spellings listed, once for all entries.
    const sites = extractImageSites(kind, request.object, locators).map(readSite);
    for (const entry of binding.rule.verifyImages) {
      for (const { site, ref, image, spellings } of sites) {
        // A reference that cannot be read (or is too long) is a failed check for every entry of
        // every rule that applies, never "not matched": fail closed (ADR 11).
        if (spellings && !spellingsMatchAny(entry.imageReferences, spellings)) continue;
        matchedSites++;
        const skipped = spellings !== undefined && spellingsMatchAny(entry.skipImageReferences, spellings);
        checks.push({ binding, entry, site, image, ref, skipped, variables });
      }
    }
  }
  if (!previous || !recorded) return { checks, matchedSites, applicable: checks, unmetPreconditions };
  // The same rules over the stored object (no oldObject, so no recursion): only if they find
  // exactly the recorded pairs was each of them verified at the last write.
  const stored = planChecks(
    { ...request, object: previous, oldObject: undefined },
    bindings,
    policySetVersion,
  ).applicable.map((check) => verifiedImage(check, check.site.image));
  if (verificationFingerprint(stored) !== recorded.fingerprint) {
    return { checks, matchedSites, applicable: checks, unmetPreconditions };
  }
  const verifiedBefore = new Set(stored.map(verifiedImageKey));
  const fresh = checks.filter(
    (check) => !verifiedBefore.has(verifiedImageKey(verifiedImage(check, check.site.image))),
  );
  return { checks: fresh, matchedSites, applicable: checks, unmetPreconditions };
}

/** What an annotation records of one check: its entry, pointer and the image as stored. */
export function verifiedImage(check: PlannedCheck, storedImage: string): VerifiedImage {
  const { policy } = check.binding;
  return {
    entry: JSON.stringify([policy.kind, policy.namespace ?? '', policy.name, check.entry.path]),
    pointer: check.site.pointer,
    image: storedImage,
  };
}

/** Where the signatures of each attestor of `sets` live: entry, then rule `repository`, else the image's. */
export function attestorLocations(check: PlannedCheck, sets: readonly AttestorSet[]): SignatureLocation[] {
  return leafAttestors(sets).map((attestor) => locationFor(check, attestor));
}

/** Where one attestor's signatures live: its own `repository`, the entry's, else the image's repository. */
export function locationFor(check: PlannedCheck, attestor: LeafAttestor): SignatureLocation {
  const override = attestor.signatureLocation ?? check.entry.signatureLocation;
  if (override) return override;
  // A reference that cannot be read fails its check before any signature is looked for.
  if (check.ref instanceof ImageReferenceError) throw check.ref;
  return { registry: check.ref.registry, repository: check.ref.repository };
}

/** A site with its reference read (or why it cannot be), as messages show it, and its spellings. */
function readSite(site: ImageSite): {
  site: ImageSite;
  ref: ImageReference | ImageReferenceError;
  image: string;
  spellings: string[] | undefined;
} {
  try {
    const ref = parseImageReference(site.image);
    return { site, ref, image: formatReference(ref), spellings: imageSpellings(ref) };
  } catch (error) {
    if (!(error instanceof ImageReferenceError)) throw error;
    return { site, ref: error, image: displayImageText(site.image), spellings: undefined };
  }
}
