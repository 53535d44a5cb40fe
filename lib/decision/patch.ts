/**
 * Every JSON Patch op imagegate answers with (pure): digest pins for verified images, and the
 * `imagegate.io/policy-set` annotation recording what was verified (ADR 4).
 */
import { createHash } from 'node:crypto';
import type { AdmissionRequest, JsonPatchOperation } from '../model/admission';
import { escapePointerSegment } from '../model/json-pointer';
import { pinnedReference, type ImageReference } from '../model/image';

/**
 * Annotation recording what an object's images were last verified by: the policy-set version and
 * a fingerprint of every (verifyImages entry, image pointer, image) that passed, as
 * `<version>.<fingerprint>` (ADR 4).
 */
export const POLICY_SET_ANNOTATION = 'imagegate.io/policy-set';

/** Hex digits of the fingerprint (128 bits of SHA-256). */
const FINGERPRINT_LENGTH = 32;

/** One image that one verifyImages entry verified, as the object stores it. */
export interface VerifiedImage {
  /** Identifies the verifyImages entry within its policy set (policy and the entry's path). */
  readonly entry: string;
  /** RFC 6901 pointer to the image field. */
  readonly pointer: string;
  /** The image as stored (after imagegate's digest pin, if any). */
  readonly image: string;
}

/** What {@link POLICY_SET_ANNOTATION} records: the policy-set version and the fingerprint of the verified images. */
export interface RecordedVerification {
  readonly policySet: string;
  readonly fingerprint: string;
}

/** A set-membership key for one verified image; equal keys name the same entry, pointer and image. */
export function verifiedImageKey(image: VerifiedImage): string {
  return JSON.stringify([image.entry, image.pointer, image.image]);
}

/** The fingerprint of a set of verified images: independent of order and duplicates. */
export function verificationFingerprint(images: readonly VerifiedImage[]): string {
  const keys = [...new Set(images.map(verifiedImageKey))].sort();
  return createHash('sha256').update(keys.join('\n')).digest('hex').slice(0, FINGERPRINT_LENGTH);
}

/** The value of {@link POLICY_SET_ANNOTATION} for an object whose `images` all passed under `version`. */
export function policySetAnnotationValue(version: string, images: readonly VerifiedImage[]): string {
  return `${version}.${verificationFingerprint(images)}`;
}

/**
 * What {@link POLICY_SET_ANNOTATION} of an object records, if it has one in imagegate's form; a
 * value of any other form (a bare version written before fingerprints, a hand-written one)
 * records nothing.
 */
export function recordedVerification(
  object: Readonly<Record<string, unknown>> | undefined,
): RecordedVerification | undefined {
  const value = annotationValue(object);
  const separator = value?.lastIndexOf('.') ?? -1;
  if (value === undefined || separator <= 0) return undefined;
  const fingerprint = value.slice(separator + 1);
  if (!new RegExp(`^[0-9a-f]{${FINGERPRINT_LENGTH}}$`).test(fingerprint)) return undefined;
  return { policySet: value.slice(0, separator), fingerprint };
}

/**
 * Ops that set {@link POLICY_SET_ANNOTATION} to `value` (see {@link policySetAnnotationValue});
 * none when it already has that value. Adds `/metadata/annotations` first when the object has
 * none, as Kyverno does.
 */
export function policySetAnnotationPatch(
  object: Readonly<Record<string, unknown>> | undefined,
  value: string,
): JsonPatchOperation[] {
  if (annotationValue(object) === value) return [];
  const path = `/metadata/annotations/${escapePointerSegment(POLICY_SET_ANNOTATION)}`;
  const annotations = (object?.metadata as { annotations?: unknown } | undefined)?.annotations;
  if (typeof annotations === 'object' && annotations !== null) return [{ op: 'add', path, value }];
  return [
    { op: 'add', path: '/metadata/annotations', value: {} },
    { op: 'add', path, value },
  ];
}

/**
 * Removes {@link POLICY_SET_ANNOTATION} whatever its value, so that an object not fully verified
 * (or one no rule applied to) is never skipped on a later UPDATE.
 */
export function policySetAnnotationRemoval(
  object: Readonly<Record<string, unknown>> | undefined,
): JsonPatchOperation[] {
  if (annotationValue(object) === undefined) return [];
  return [{ op: 'remove', path: `/metadata/annotations/${escapePointerSegment(POLICY_SET_ANNOTATION)}` }];
}

/** The annotation's value when it is a string; any other JSON value counts as absent. */
function annotationValue(object: Readonly<Record<string, unknown>> | undefined): string | undefined {
  const annotations = (object?.metadata as { annotations?: Record<string, unknown> } | undefined)
    ?.annotations;
  const value = annotations?.[POLICY_SET_ANNOTATION];
  return typeof value === 'string' ? value : undefined;
}

/** A verified image field to pin: `replace` its value with the reference at `digest`. */
export interface DigestPin {
  readonly pointer: string;
  readonly ref: ImageReference;
  readonly digest: string;
}

/** One `replace` per image field (the first pin of a pointer wins), pinning the image to its digest. */
export function digestPatch(pins: readonly DigestPin[]): JsonPatchOperation[] {
  const ops = new Map<string, JsonPatchOperation>();
  for (const pin of pins) {
    if (!ops.has(pin.pointer)) {
      ops.set(pin.pointer, { op: 'replace', path: pin.pointer, value: pinnedReference(pin.ref, pin.digest) });
    }
  }
  return [...ops.values()];
}

/**
 * The annotation ops of an allowed review (ADR 4): the annotation is always imagegate's own. When
 * `applicable` images exist and every check passed, it records each (entry, pointer, stored image)
 * that passed, now or at the last write, with each image as the answer leaves it (pinned by
 * `digestOps` or as stored); otherwise — an image that did not pass, or no image any rule applies
 * to — any annotation, even a hand-written one, goes. Subresource updates (pods/ephemeralcontainers)
 * cannot change metadata: none.
 */
export function annotationPatch(
  request: AdmissionRequest,
  policySetVersion: string,
  applicable: readonly VerifiedImage[],
  everyCheckPassed: boolean,
  digestOps: readonly JsonPatchOperation[],
): JsonPatchOperation[] {
  if (request.subResource) return [];
  if (applicable.length === 0 || !everyCheckPassed) return policySetAnnotationRemoval(request.object);
  const pinned = new Map(
    digestOps.flatMap((op): [string, string][] =>
      op.op === 'replace' && typeof op.value === 'string' ? [[op.path, op.value]] : [],
    ),
  );
  const stored = applicable.map((image) => ({ ...image, image: pinned.get(image.pointer) ?? image.image }));
  return policySetAnnotationPatch(request.object, policySetAnnotationValue(policySetVersion, stored));
}
