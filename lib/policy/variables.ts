import type { AdmissionRequest } from '../model/admission';
import { ImageReferenceError } from '../model/registry-errors';
import { parseImageReference, writtenName, type ImageReference } from '../model/image';
import { extractImageSites } from '../workload/images';
import { evaluateConditions, type ConditionResult } from './conditions';
import type { Rule } from './types';

/**
 * Kyverno's `ImageInfo` as its variables show it (`image`, `images.<field>.<container>`):
 * `registry`, `path` (repository), `name` (its last segment), `tag`, `digest`, `reference`
 * (`registry/path:tag`, or `registry/path@digest` when pinned) and `referenceWithTag`. Fields
 * without a value are left out, as Kyverno's `omitempty` does, so a condition on them fails.
 */
export interface ImageInfoVariable {
  readonly registry: string;
  readonly path: string;
  readonly name: string;
  readonly tag?: string;
  readonly digest?: string;
  readonly reference: string;
  readonly referenceWithTag?: string;
}

/**
 * The `image` / `images` form of a parsed reference; `digest` overrides the reference's own.
 * Registry and path are Kyverno's, as written (`GHCR.IO`, `library/nginx`), not canonical.
 */
export function imageInfoVariable(ref: ImageReference, digest?: string): ImageInfoVariable {
  const { registry, repository } = writtenName(ref);
  const base = `${registry}/${repository}`;
  const pinned = digest ?? ref.digest;
  return {
    registry,
    path: repository,
    name: repository.slice(repository.lastIndexOf('/') + 1),
    ...(ref.tag ? { tag: ref.tag } : {}),
    ...(pinned ? { digest: pinned } : {}),
    reference: ref.digest ? `${base}@${ref.digest}` : `${base}:${ref.tag ?? 'latest'}`,
    ...(ref.tag ? { referenceWithTag: `${base}:${ref.tag}` } : {}),
  };
}

/** Kyverno's `request` variable, from the AdmissionReview request imagegate decoded. */
export function requestVariable(request: AdmissionRequest): Record<string, unknown> {
  return {
    uid: request.uid,
    kind: request.kind,
    ...(request.subResource ? { subResource: request.subResource } : {}),
    name: request.name,
    namespace: request.namespace ?? '',
    operation: request.operation,
    userInfo: { username: request.userInfo.username, groups: [...request.userInfo.groups] },
    object: request.object ?? null,
    oldObject: request.oldObject ?? null,
    dryRun: request.dryRun,
  };
}

/**
 * Kyverno's `images` variable: `containers`, `initContainers`, `ephemeralContainers`, and
 * `imageVolumes` (volume name → image info, as in Kyverno's proposed `imageVolumes` extractor; so
 * a condition over `images.*` sees every image the kubelet pulls) — or, with `imageExtractors` for
 * the kind, each extractor's `name` → container name → image info. Images that are not
 * references are left out.
 */
export function imagesVariable(
  request: AdmissionRequest,
  rule: Pick<Rule, 'imageExtractors'>,
): Record<string, Record<string, ImageInfoVariable>> {
  const kind = request.kind.kind;
  const extractors = rule.imageExtractors[kind];
  const groups: [string, ReturnType<typeof extractImageSites>][] =
    extractors && extractors.length > 0
      ? extractors.map((extractor) => [extractor.name, extractImageSites(kind, request.object, [extractor])])
      : [['', extractImageSites(kind, request.object)]];
  const images: Record<string, Record<string, ImageInfoVariable>> = {};
  for (const [group, sites] of groups) {
    for (const site of sites) {
      let ref: ImageReference;
      try {
        ref = parseImageReference(site.image);
      } catch (error) {
        if (error instanceof ImageReferenceError) continue;
        throw error;
      }
      const field = group || site.field;
      (images[field] ??= {})[site.containerName] = imageInfoVariable(ref);
    }
  }
  return images;
}

/** The context of a rule's preconditions: `request` and `images`. */
export function preconditionContext(
  request: AdmissionRequest,
  rule: Pick<Rule, 'imageExtractors'>,
): Record<string, unknown> {
  return { request: requestVariable(request), images: imagesVariable(request, rule) };
}

/**
 * Whether a rule applies to the request after its `preconditions` (always, when it has none). As
 * in Kyverno's preconditions, a variable the context cannot resolve (a missing label or
 * annotation, say) is the empty string: `NotEquals approved` on an absent label holds and the
 * rule applies. Should the conditions still fail to evaluate, the rule applies too: a
 * precondition can only switch a rule off by holding false, never by failing.
 */
export function preconditionsHold(rule: Rule, request: AdmissionRequest): ConditionResult {
  if (!rule.preconditions) return { passed: true, failed: [] };
  try {
    return evaluateConditions(rule.preconditions, preconditionContext(request, rule), 'empty');
  } catch {
    return { passed: true, failed: [] };
  }
}
