/**
 * Structured log records, built from what the webhook reports (pure functions, no I/O). Each has a
 * `record` field naming its type (catalogue.ts LOG_RECORDS), so Logs Insights can `filter record =
 * "decision"`. Nothing secret goes in: no request path (it carries the cluster token), no object
 * body, no credentials; image references, digests, policy and rule names and messages only.
 */
import type { ImageCheckResult } from '../decision/decide';
import type { PolicyLoadEvent, ReviewEvent } from '../review/events';
import type { RegistryErrorClass } from './catalogue';
import { effectiveAction } from '../decision/decide';
import type { CheckEffect } from '../model/outcome';
import { registryErrorClass } from './error-class';

/** One verifyImages check of one image: the rule result and why. */
export interface CheckRecord {
  readonly policy: string;
  /** Set for a namespaced `Policy`. */
  readonly policyNamespace?: string;
  readonly rule: string;
  readonly status: ImageCheckResult['status'];
  /** The failure action in force for this check (per-namespace overrides applied). */
  readonly action: 'Enforce' | 'Audit';
  /** What the check did to the answer. */
  readonly effect: CheckEffect;
  readonly message: string;
  readonly cacheHit: boolean;
  /** Set when the registry is to blame (catalogue.ts REGISTRY_ERROR_CLASSES). */
  readonly errorClass?: RegistryErrorClass;
}

/** One image of the resource (one image field) and every check it got. */
export interface ImageRecord {
  /** Kyverno's normalised reference, e.g. `ghcr.io/acme/app:1.2`. */
  readonly image: string;
  /** The digest it was resolved to, when it could be. */
  readonly digest: string | null;
  readonly container: string;
  /** JSON pointer of the image field. */
  readonly pointer: string;
  readonly checks: readonly CheckRecord[];
}

export interface DecisionRecord {
  readonly record: 'decision';
  readonly cluster: string | null;
  readonly uid: string;
  readonly kind: string;
  /** `v1`, `apps/v1`, … */
  readonly apiVersion: string;
  readonly subResource: string | null;
  readonly namespace: string | null;
  readonly name: string;
  readonly operation: string;
  readonly dryRun: boolean;
  /** Who asked (the API server's userInfo.username). */
  readonly user: string;
  readonly policySetVersion: string | null;
  readonly allowed: boolean;
  /** `warned`: allowed with warnings. */
  readonly result: 'allowed' | 'denied' | 'warned';
  readonly warnings: number;
  /** Image fields rewritten to their digest. */
  readonly pinned: number;
  readonly durationMs: number;
  /** Some image could not be checked before the API server's deadline. */
  readonly deadlineHit: boolean;
  /** Images admitted although a check failed or could not run (Audit, failurePolicy Ignore). */
  readonly admittedUnverified: number;
  readonly counts: {
    readonly pass: number;
    readonly fail: number;
    readonly error: number;
    readonly skip: number;
    readonly cacheHits: number;
  };
  readonly images: readonly ImageRecord[];
  /** Why the review failed before deciding (it then denied). */
  readonly reason: string | null;
}

/** An image admitted unverified: what a team would see blocked under Enforce. */
export interface AdmittedUnverifiedRecord {
  readonly record: 'admitted_unverified';
  readonly cluster: string | null;
  readonly uid: string;
  readonly kind: string;
  readonly namespace: string | null;
  readonly name: string;
  readonly operation: string;
  readonly policySetVersion: string | null;
  readonly image: string;
  readonly digest: string | null;
  /** `audit`: admitted because the failing check is under Audit; `enforce`: by failurePolicy Ignore. */
  readonly modes: readonly ('audit' | 'enforce')[];
  readonly failures: readonly CheckRecord[];
}

export type PolicyLoadRecord = { readonly record: 'policy_load' } & PolicyLoadEvent;

export interface ColdStartRecord {
  readonly record: 'cold_start';
  /** Module initialisation: configuration, clients, logger and metrics (the SDK loads lazily). */
  readonly initDurationMs: number;
  readonly policySource: 'folder' | 's3';
  readonly clusterTokens: boolean;
  readonly registryCredentialSecrets: number;
}

/** The one decision record of an answered review. */
export function decisionRecord(event: ReviewEvent): DecisionRecord {
  const { request, response } = event;
  const images = imageRecords(event);
  const checks = images.flatMap((image) => image.checks);
  const count = (status: ImageCheckResult['status']) =>
    checks.filter((check) => check.status === status).length;
  const warnings = response.response.warnings?.length ?? 0;
  const allowed = response.response.allowed;
  return {
    record: 'decision',
    cluster: event.cluster ?? null,
    uid: request.uid,
    kind: request.kind.kind,
    apiVersion: request.kind.group ? `${request.kind.group}/${request.kind.version}` : request.kind.version,
    subResource: request.subResource ?? null,
    namespace: request.namespace ?? null,
    name: request.name,
    operation: request.operation,
    dryRun: request.dryRun,
    user: request.userInfo.username,
    policySetVersion: event.policySetVersion ?? null,
    allowed,
    result: !allowed ? 'denied' : warnings > 0 ? 'warned' : 'allowed',
    warnings,
    pinned: pinnedImages(event),
    durationMs: Math.round(event.durationMs * 10) / 10,
    deadlineHit: deadlineHit(event),
    admittedUnverified: allowed ? images.filter(unverified).length : 0,
    counts: {
      pass: count('pass'),
      fail: count('fail'),
      error: count('error'),
      skip: count('skip'),
      cacheHits: checks.filter((check) => check.cacheHit).length,
    },
    images,
    reason: event.error ?? null,
  };
}

/** One record per image an allowed review admitted although a check failed or could not run. */
export function admittedUnverifiedRecords(event: ReviewEvent): AdmittedUnverifiedRecord[] {
  if (!event.response.response.allowed) return [];
  const { request } = event;
  return imageRecords(event)
    .filter(unverified)
    .map((image) => {
      const failures = image.checks.filter(failed);
      return {
        record: 'admitted_unverified',
        cluster: event.cluster ?? null,
        uid: request.uid,
        kind: request.kind.kind,
        namespace: request.namespace ?? null,
        name: request.name,
        operation: request.operation,
        policySetVersion: event.policySetVersion ?? null,
        image: image.image,
        digest: image.digest,
        modes: validationModes(failures),
        failures,
      };
    });
}

export function policyLoadRecord(event: PolicyLoadEvent): PolicyLoadRecord {
  return { record: 'policy_load', ...event };
}

/** The images of a review, in the order they were checked, each with its checks. */
export function imageRecords(event: ReviewEvent): ImageRecord[] {
  const byPointer = new Map<
    string,
    { -readonly [K in keyof ImageRecord]: ImageRecord[K] } & { checks: CheckRecord[] }
  >();
  const { results = [], effects = [] } = event.outcome ?? {};
  for (const [index, result] of results.entries()) {
    let image = byPointer.get(result.site.pointer);
    if (!image) {
      image = {
        image: result.image,
        digest: null,
        container: result.site.containerName,
        pointer: result.site.pointer,
        checks: [],
      };
      byPointer.set(result.site.pointer, image);
    }
    image.digest ??= result.digest ?? null;
    image.checks.push(checkRecord(result, effects[index] ?? 'none', event.request.namespace));
  }
  return [...byPointer.values()];
}

function checkRecord(
  result: ImageCheckResult,
  effect: CheckEffect,
  namespace: string | undefined,
): CheckRecord {
  const { policy } = result.binding;
  const errorClass = registryErrorClass(result);
  return {
    policy: policy.name,
    ...(policy.namespace !== undefined ? { policyNamespace: policy.namespace } : {}),
    rule: result.binding.ruleName,
    status: result.status,
    action: effectiveAction(result.entry, namespace),
    effect,
    message: result.message,
    cacheHit: result.cacheHit ?? false,
    ...(errorClass ? { errorClass } : {}),
  };
}

function failed(check: CheckRecord): boolean {
  return check.status === 'fail' || check.status === 'error';
}

function unverified(image: ImageRecord): boolean {
  return image.checks.some(failed);
}

/** `audit` when a failing check is under Audit, `enforce` when an error passed by failurePolicy Ignore. */
export function validationModes(failures: readonly CheckRecord[]): ('audit' | 'enforce')[] {
  const modes = new Set(
    failures.map((check): 'audit' | 'enforce' => (check.action === 'Audit' ? 'audit' : 'enforce')),
  );
  return (['audit', 'enforce'] as const).filter((mode) => modes.has(mode));
}

/** Some image (or the whole review) could not be checked before the review's deadline. */
export function deadlineHit(event: ReviewEvent): boolean {
  if (event.errorCause?.kind === 'deadline') return true;
  return (event.outcome?.results ?? []).some(
    (result) => result.status !== 'pass' && result.cause.kind === 'deadline',
  );
}

/** Image fields the answer's patch rewrites (the `replace` ops outside /metadata). */
function pinnedImages(event: ReviewEvent): number {
  const patch = event.outcome?.decision.patch ?? [];
  return event.response.response.allowed
    ? patch.filter((op) => op.op === 'replace' && !op.path.startsWith('/metadata')).length
    : 0;
}
