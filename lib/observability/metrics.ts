/**
 * What each event counts, as data (pure functions, no I/O): a list of datums, each naming its
 * catalogue entry, a value and the dimension values. The Powertools adapter (powertools.ts)
 * publishes them as CloudWatch Embedded Metric Format.
 */
import type { PolicyLoadEvent, ReviewEvent } from '../review/events';
import {
  DIMENSION_VALUES,
  METRICS,
  NO_CLUSTER,
  SERVICE_DIMENSION,
  type DimensionName,
  type MetricDefinition,
} from './catalogue';
import { registryErrorClass } from './error-class';
import { deadlineHit, imageRecords, validationModes } from './records';

export type Dimensions = Readonly<Partial<Record<DimensionName, string>>>;

/** One value of one metric, with every dimension its dimension sets name (`service` aside). */
export interface MetricDatum {
  readonly metric: MetricDefinition;
  readonly value: number;
  readonly dimensions: Dimensions;
}

/** Port: where datums go (the Powertools adapter, or a list in tests). */
export interface MetricSink {
  add(datum: MetricDatum): void;
}

/**
 * A datum for `metric`. Throws when a dimension its sets name is missing or has a value outside
 * the catalogue's list: the catalogue is the contract with the dashboard and alarms.
 */
export function datum(metric: MetricDefinition, value: number, dimensions: Dimensions): MetricDatum {
  const needed = new Set(metric.dimensionSets.flat().filter((name) => name !== SERVICE_DIMENSION));
  for (const name of needed) {
    const value = dimensions[name];
    const allowed: readonly string[] | undefined = DIMENSION_VALUES[name];
    if (value === undefined || value === '') throw new Error(`${metric.name}: dimension ${name} is missing`);
    if (allowed && !allowed.includes(value))
      throw new Error(`${metric.name}: ${name}=${value} is not allowed`);
  }
  const own: Partial<Record<DimensionName, string>> = {};
  for (const name of needed) own[name] = dimensions[name];
  return { metric, value, dimensions: own };
}

/** Everything one answered review counts. */
export function reviewMetrics(event: ReviewEvent): MetricDatum[] {
  const { request } = event;
  const cluster = event.cluster || NO_CLUSTER;
  const allowed = event.response.response.allowed;
  const results = event.outcome?.results ?? [];
  const seconds = event.durationMs / 1000;
  const datums: MetricDatum[] = [
    datum(METRICS.admissionRequests, 1, {
      cluster,
      resource_kind: request.kind.kind || 'unknown',
      resource_request_operation: request.operation.toLowerCase(),
      request_allowed: String(allowed),
    }),
    datum(METRICS.admissionReviewDuration, seconds, { cluster }),
  ];
  if (allowed && (event.response.response.warnings?.length ?? 0) > 0) {
    datums.push(datum(METRICS.admissionWarnings, 1, { cluster }));
  }
  if (!event.outcome || event.error !== undefined) {
    datums.push(datum(METRICS.admissionReviewFailures, 1, { cluster }));
  }

  const images = imageRecords(event);
  const checks = images.flatMap((image) => image.checks);
  for (const [key, count] of tally(checks.map((check) => `${check.action.toLowerCase()} ${check.status}`))) {
    const [mode = '', result = ''] = key.split(' ');
    datums.push(
      datum(METRICS.imageVerifications, count, {
        cluster,
        policy_validation_mode: mode,
        rule_result: result,
      }),
    );
  }
  if (checks.some((check) => check.status !== 'skip')) {
    datums.push(datum(METRICS.imageVerificationDuration, seconds, { cluster }));
  }
  if (allowed) {
    const modes = images.flatMap((image) =>
      validationModes(image.checks.filter((check) => check.status === 'fail' || check.status === 'error')),
    );
    for (const [mode, count] of tally(modes)) {
      datums.push(datum(METRICS.admittedUnverified, count, { cluster, policy_validation_mode: mode }));
    }
  }
  const classes = results.map(registryErrorClass).filter((value) => value !== undefined);
  for (const [errorClass, count] of tally(classes)) {
    datums.push(datum(METRICS.registryErrors, count, { cluster, error_class: errorClass }));
  }
  if (deadlineHit(event)) datums.push(datum(METRICS.deadlineHits, 1, { cluster }));
  return datums;
}

export function policyLoadMetrics(event: PolicyLoadEvent): MetricDatum[] {
  return [datum(event.outcome === 'loaded' ? METRICS.policyLoads : METRICS.policyLoadFailures, 1, {})];
}

/** The verification cache's counters since the last call (they only grow). */
export function cacheMetrics(delta: { hits: number; misses: number }): MetricDatum[] {
  if (delta.hits + delta.misses === 0) return [];
  return [datum(METRICS.cacheHits, delta.hits, {}), datum(METRICS.cacheMisses, delta.misses, {})];
}

/** A request answered without a review (400, 401, 503); nothing for 200. */
export function httpResponseMetrics(statusCode: number): MetricDatum[] {
  const code = String(statusCode);
  return (DIMENSION_VALUES.status_code as readonly string[]).includes(code)
    ? [datum(METRICS.rejectedRequests, 1, { status_code: code })]
    : [];
}

export function recordReview(sink: MetricSink, event: ReviewEvent): void {
  for (const item of reviewMetrics(event)) sink.add(item);
}

function tally(keys: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const key of keys) counts.set(key, (counts.get(key) ?? 0) + 1);
  return counts;
}
