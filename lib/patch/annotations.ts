import type { JsonPatchOperation } from '../admission/types';
import { escapePointerSegment } from './pointer';

/** Annotation recording the policy-set version an object's images were last checked under. */
export const POLICY_SET_ANNOTATION = 'imagegate.io/policy-set';

/** The value of {@link POLICY_SET_ANNOTATION} on an object, if any. */
export function recordedPolicySet(object: Readonly<Record<string, unknown>> | undefined): string | undefined {
  const annotations = (object?.metadata as { annotations?: Record<string, unknown> } | undefined)
    ?.annotations;
  const value = annotations?.[POLICY_SET_ANNOTATION];
  return typeof value === 'string' ? value : undefined;
}

/**
 * Ops that set {@link POLICY_SET_ANNOTATION} to `version`; none when it already has that value.
 * Adds `/metadata/annotations` first when the object has none, as Kyverno does.
 */
export function policySetAnnotationPatch(
  object: Readonly<Record<string, unknown>> | undefined,
  version: string,
): JsonPatchOperation[] {
  if (recordedPolicySet(object) === version) return [];
  const path = `/metadata/annotations/${escapePointerSegment(POLICY_SET_ANNOTATION)}`;
  const annotations = (object?.metadata as { annotations?: unknown } | undefined)?.annotations;
  if (typeof annotations === 'object' && annotations !== null) return [{ op: 'add', path, value: version }];
  return [
    { op: 'add', path: '/metadata/annotations', value: {} },
    { op: 'add', path, value: version },
  ];
}

/** Removes {@link POLICY_SET_ANNOTATION} when present, so that an object not fully verified is never skipped. */
export function policySetAnnotationRemoval(
  object: Readonly<Record<string, unknown>> | undefined,
): JsonPatchOperation[] {
  if (recordedPolicySet(object) === undefined) return [];
  return [{ op: 'remove', path: `/metadata/annotations/${escapePointerSegment(POLICY_SET_ANNOTATION)}` }];
}
