/**
 * Every CloudWatch metric imagegate emits: name, unit, dimension sets and allowed dimension values.
 * The code emits only through these entries (lib/observability/metrics.ts), and the tests check
 * that every dashboard widget and alarm in infra/ names one of them, so this is the one list.
 *
 * Names and dimensions follow Kyverno's Prometheus metrics where Kyverno has the concept
 * (`kyverno_admission_requests_total` -> `admission_requests_total`, labels `resource_kind`,
 * `resource_request_operation`, `request_allowed`, `policy_validation_mode`, `rule_result`), so a
 * Kyverno user finds what they know. Every dimension has a small, fixed set of values: no image,
 * pod, namespace or policy names (those are in the decision log).
 */

import registryErrorClasses from './registry-error-classes.json';

/** The CloudWatch namespace of every imagegate metric. */
export const METRICS_NAMESPACE = 'imagegate';

/** Powertools adds `service` to every dimension set; its value is the service name. */
export const SERVICE_DIMENSION = 'service';

/** The service name when POWERTOOLS_SERVICE_NAME is unset (deployed stages set `imagegate-<stage>`). */
export const DEFAULT_SERVICE_NAME = 'imagegate';

/**
 * Registry error classes: what went wrong when an image could not be checked against its registry.
 * Listed, described and marked as outages in registry-error-classes.json, which infra/dashboard.cjs
 * and infra/alarms.cjs read too: one list for the code, the dashboard and the alarms.
 */
export type RegistryErrorClass = keyof typeof registryErrorClasses;
export const REGISTRY_ERROR_CLASSES = Object.keys(registryErrorClasses) as readonly RegistryErrorClass[];

/** Classes that say the registry (or the way to it) is unwell, rather than the image being wrong. */
export const REGISTRY_OUTAGE_CLASSES: readonly RegistryErrorClass[] = REGISTRY_ERROR_CLASSES.filter(
  (errorClass) => registryErrorClasses[errorClass].outage,
);

/** The values each dimension may take; `undefined` = any (service, cluster, resource kind, function name). */
export const DIMENSION_VALUES = {
  service: undefined,
  cluster: undefined,
  function_name: undefined,
  resource_kind: undefined,
  resource_request_operation: ['create', 'update', 'delete', 'connect'],
  request_allowed: ['true', 'false'],
  policy_validation_mode: ['enforce', 'audit'],
  rule_result: ['pass', 'fail', 'error', 'skip'],
  error_class: REGISTRY_ERROR_CLASSES,
  status_code: ['400', '401', '503'],
} as const satisfies Record<string, readonly string[] | undefined>;

export type DimensionName = keyof typeof DIMENSION_VALUES;

/** The `cluster` value of a review that came without a cluster in its path (local, keyless use). */
export const NO_CLUSTER = 'none';

export type MetricUnitName = 'Count' | 'Seconds';

export interface MetricDefinition {
  readonly name: string;
  readonly unit: MetricUnitName;
  /** Each datum is published under every one of these sets (each begins with `service`). */
  readonly dimensionSets: readonly (readonly DimensionName[])[];
  /** What one datum is, for docs/operations.md. */
  readonly description: string;
  /** The Kyverno metric a Kyverno user would look for, if any. */
  readonly kyverno?: string;
}

const set = (...names: DimensionName[]): readonly DimensionName[] => [SERVICE_DIMENSION, ...names];

/** The catalogue. Keys are how the code refers to a metric; `name` is what CloudWatch shows. */
export const METRICS = {
  admissionRequests: {
    name: 'admission_requests_total',
    unit: 'Count',
    dimensionSets: [
      set('request_allowed'),
      set('cluster', 'request_allowed'),
      set('cluster', 'resource_kind', 'resource_request_operation', 'request_allowed'),
    ],
    description: 'One per answered AdmissionReview; request_allowed=false is a denial.',
    kyverno: 'kyverno_admission_requests_total',
  },
  admissionWarnings: {
    name: 'admission_warnings_total',
    unit: 'Count',
    dimensionSets: [set(), set('cluster')],
    description:
      'One per admitted review that carried warnings (Audit failures, skips, failurePolicy Ignore).',
  },
  admissionReviewDuration: {
    name: 'admission_review_duration_seconds',
    unit: 'Seconds',
    dimensionSets: [set(), set('cluster')],
    description: 'Time from the decoded request to the answer, policy loading included.',
    kyverno: 'kyverno_admission_review_duration_seconds',
  },
  admissionReviewFailures: {
    name: 'admission_review_failures_total',
    unit: 'Count',
    dimensionSets: [set(), set('cluster')],
    description:
      'Reviews that failed before deciding (no policy set ever loaded, internal fault) and were denied.',
  },
  imageVerifications: {
    name: 'image_verifications_total',
    unit: 'Count',
    dimensionSets: [set(), set('rule_result'), set('cluster', 'policy_validation_mode', 'rule_result')],
    description:
      'One per image checked by one verifyImages entry of one rule (rule_result pass/fail/error/skip).',
    kyverno: 'kyverno_policy_results_total{rule_type="verifyImages"}',
  },
  imageVerificationDuration: {
    name: 'image_verification_duration_seconds',
    unit: 'Seconds',
    dimensionSets: [set(), set('cluster')],
    description:
      'Per review that checked at least one image (skips aside): the time its images took to verify, all in parallel.',
    kyverno: 'kyverno_policy_execution_duration_seconds',
  },
  admittedUnverified: {
    name: 'admitted_unverified_total',
    unit: 'Count',
    dimensionSets: [set('policy_validation_mode'), set('cluster', 'policy_validation_mode')],
    description:
      'Images admitted although a check failed or could not run: under Audit (policy_validation_mode=audit, what Enforce would block) or by failurePolicy Ignore (enforce).',
  },
  cacheHits: {
    name: 'verification_cache_hits_total',
    unit: 'Count',
    dimensionSets: [set()],
    description: 'Verdicts served from the per-instance verification cache (by digest).',
  },
  cacheMisses: {
    name: 'verification_cache_misses_total',
    unit: 'Count',
    dimensionSets: [set()],
    description: 'Verifications that had to run (not cached, not already in flight).',
  },
  registryErrors: {
    name: 'registry_errors_total',
    unit: 'Count',
    dimensionSets: [set('error_class'), set('cluster')],
    description:
      'Image checks that ended on a registry problem, by class (timeout, auth, http_5xx, not_found…).',
  },
  deadlineHits: {
    name: 'deadline_hits_total',
    unit: 'Count',
    dimensionSets: [set(), set('cluster')],
    description:
      'Reviews in which some image could not be checked before the review deadline (the API server timeout less a margin); the failure policy decided it.',
  },
  policyLoads: {
    name: 'policy_loads_total',
    unit: 'Count',
    dimensionSets: [set()],
    description: 'Policy sets loaded (first use and every change, per cluster and instance).',
    kyverno: 'kyverno_policy_changes_total',
  },
  policyLoadFailures: {
    name: 'policy_load_failures_total',
    unit: 'Count',
    dimensionSets: [set()],
    description:
      'Policy sets that did not load; the last good set stays in force (none: every request is denied).',
  },
  rejectedRequests: {
    name: 'rejected_requests_total',
    unit: 'Count',
    dimensionSets: [set('status_code')],
    description: 'HTTP requests answered without a review: 400 (not an AdmissionReview), 401 (token), 503.',
  },
  coldStarts: {
    name: 'ColdStart',
    unit: 'Count',
    dimensionSets: [set('function_name')],
    description: 'Lambda cold starts (Powertools captureColdStartMetric).',
  },
} as const satisfies Record<string, MetricDefinition>;

export type MetricKey = keyof typeof METRICS;

/** Every metric, for the tests and docs. */
export const METRIC_DEFINITIONS: readonly MetricDefinition[] = Object.values(METRICS);

/** The definition named `name` in CloudWatch, if it is one of ours. */
export function metricNamed(name: string): MetricDefinition | undefined {
  return METRIC_DEFINITIONS.find((metric) => metric.name === name);
}

/** Log record types (the `record` field of imagegate's structured log lines). */
export const LOG_RECORDS = ['decision', 'admitted_unverified', 'policy_load', 'cold_start'] as const;
export type LogRecordType = (typeof LOG_RECORDS)[number];
