import { Metrics } from '@aws-lambda-powertools/metrics';
import {
  DIMENSION_VALUES,
  METRIC_DEFINITIONS,
  METRICS,
  METRICS_NAMESPACE,
  SERVICE_DIMENSION,
  type MetricDefinition,
} from '../../../lib/observability/catalogue';
import {
  cacheMetrics,
  datum,
  httpResponseMetrics,
  policyLoadMetrics,
  recordReview,
  reviewMetrics,
  type MetricDatum,
} from '../../../lib/observability/metrics';
import { PowertoolsMetricSink } from '../../../lib/observability/powertools';
import { controllerRequest, podRequest } from '../../support/builders';
import { emfMetrics, emfProblems } from '../../support/emf';
import { check, reviewEvent } from '../../support/review-events';

const IMAGE = 'ghcr.io/acme/app:1.0';
const SIDECAR = 'ghcr.io/acme/sidecar:1.0';

/** `name{dim=value,…} value`, sorted: easy to compare and to read in a failure. */
function lines(datums: readonly MetricDatum[]): string[] {
  return datums
    .map((item) => {
      const dims = Object.entries(item.dimensions)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([name, value]) => `${name}=${value}`)
        .join(',');
      return `${item.metric.name}{${dims}} ${item.value}`;
    })
    .sort();
}

describe('the catalogue', () => {
  test('names are unique, every dimension set starts with service and names known dimensions', () => {
    const names = METRIC_DEFINITIONS.map((metric) => metric.name);
    expect(new Set(names).size).toBe(names.length);
    for (const metric of METRIC_DEFINITIONS) {
      expect(metric.dimensionSets.length).toBeGreaterThan(0);
      for (const set of metric.dimensionSets) {
        expect(set[0]).toBe(SERVICE_DIMENSION);
        expect(new Set(set).size).toBe(set.length);
        for (const name of set) expect(Object.keys(DIMENSION_VALUES)).toContain(name);
      }
    }
  });

  test('no dimension could carry an image, a pod or a namespace', () => {
    const dimensions = new Set(METRIC_DEFINITIONS.flatMap((metric) => metric.dimensionSets.flat()));
    for (const forbidden of [
      'image',
      'digest',
      'name',
      'namespace',
      'resource_namespace',
      'policy_name',
      'uid',
    ]) {
      expect(dimensions).not.toContain(forbidden);
    }
  });
});

describe('datum', () => {
  test('keeps exactly the dimensions the metric’s sets name', () => {
    expect(datum(METRICS.deadlineHits, 1, { cluster: 'a', rule_result: 'pass' }).dimensions).toEqual({
      cluster: 'a',
    });
  });

  test('refuses a missing dimension or a value outside the catalogue', () => {
    expect(() => datum(METRICS.deadlineHits, 1, {})).toThrow(
      'deadline_hits_total: dimension cluster is missing',
    );
    expect(() =>
      datum(METRICS.imageVerifications, 1, {
        cluster: 'a',
        policy_validation_mode: 'audit',
        rule_result: 'warn',
      }),
    ).toThrow('image_verifications_total: rule_result=warn is not allowed');
  });
});

describe('reviewMetrics', () => {
  test('an admitted, verified Pod', () => {
    const event = reviewEvent(podRequest('web', [IMAGE]), [check({ status: 'pass', image: IMAGE })], {
      cluster: 'prod-eu-1',
      durationMs: 250,
    });
    expect(lines(reviewMetrics(event))).toEqual([
      'admission_requests_total{cluster=prod-eu-1,request_allowed=true,resource_kind=Pod,resource_request_operation=create} 1',
      'admission_review_duration_seconds{cluster=prod-eu-1} 0.25',
      'image_verification_duration_seconds{cluster=prod-eu-1} 0.25',
      'image_verifications_total{cluster=prod-eu-1,policy_validation_mode=enforce,rule_result=pass} 1',
    ]);
  });

  test('a Deployment admitted with an Audit failure and a registry error passed by failurePolicy Ignore', () => {
    const event = reviewEvent(
      controllerRequest('Deployment', 'api', [IMAGE, SIDECAR]),
      [
        check({ status: 'fail', image: IMAGE, failureAction: 'Audit' }),
        check({ status: 'skip', image: IMAGE, policy: 'other' }),
        check({
          status: 'error',
          image: SIDECAR,
          container: 1,
          failurePolicy: 'Ignore',
          cause: {
            kind: 'registry',
            code: 'REGISTRY_HTTP',
            registry: 'ghcr.io',
            status: 503,
            detail: 'registry ghcr.io answered HTTP 503 for manifest acme/sidecar:1.0',
          },
        }),
      ],
      { cluster: 'dev-1', durationMs: 1500 },
    );
    expect(lines(reviewMetrics(event))).toEqual([
      'admission_requests_total{cluster=dev-1,request_allowed=true,resource_kind=Deployment,resource_request_operation=create} 1',
      'admission_review_duration_seconds{cluster=dev-1} 1.5',
      'admission_warnings_total{cluster=dev-1} 1',
      'admitted_unverified_total{cluster=dev-1,policy_validation_mode=audit} 1',
      'admitted_unverified_total{cluster=dev-1,policy_validation_mode=enforce} 1',
      'image_verification_duration_seconds{cluster=dev-1} 1.5',
      'image_verifications_total{cluster=dev-1,policy_validation_mode=audit,rule_result=fail} 1',
      'image_verifications_total{cluster=dev-1,policy_validation_mode=enforce,rule_result=error} 1',
      'image_verifications_total{cluster=dev-1,policy_validation_mode=enforce,rule_result=skip} 1',
      'registry_errors_total{cluster=dev-1,error_class=http_5xx} 1',
    ]);
  });

  test('a denial at the deadline: two images timed out, nothing admitted unverified', () => {
    const timeout = {
      kind: 'deadline',
      registry: 'ghcr.io',
      detail: 'registry ghcr.io did not answer in time',
    } as const;
    const event = reviewEvent(
      podRequest('slow', [IMAGE, SIDECAR], { operation: 'UPDATE' }),
      [
        check({ status: 'error', image: IMAGE, cause: timeout }),
        check({ status: 'error', image: SIDECAR, container: 1, cause: timeout }),
      ],
      { cluster: 'prod-eu-1', durationMs: 13_000 },
    );
    expect(lines(reviewMetrics(event))).toEqual([
      'admission_requests_total{cluster=prod-eu-1,request_allowed=false,resource_kind=Pod,resource_request_operation=update} 1',
      'admission_review_duration_seconds{cluster=prod-eu-1} 13',
      'deadline_hits_total{cluster=prod-eu-1} 1',
      'image_verification_duration_seconds{cluster=prod-eu-1} 13',
      'image_verifications_total{cluster=prod-eu-1,policy_validation_mode=enforce,rule_result=error} 2',
      'registry_errors_total{cluster=prod-eu-1,error_class=deadline} 2',
    ]);
  });

  test('a review that failed before deciding, without a cluster (keyless, local)', () => {
    const event = reviewEvent(podRequest('x', [IMAGE]), [], { error: 'no policy set', durationMs: 3 });
    expect(lines(reviewMetrics(event))).toEqual([
      'admission_requests_total{cluster=none,request_allowed=false,resource_kind=Pod,resource_request_operation=create} 1',
      'admission_review_duration_seconds{cluster=none} 0.003',
      'admission_review_failures_total{cluster=none} 1',
    ]);
  });
});

describe('other events', () => {
  test('policy loads, cache counters and refused requests', () => {
    const base = { location: 'policies', cluster: undefined };
    expect(
      lines(policyLoadMetrics({ outcome: 'loaded', ...base, version: 'v', policies: 1, objects: 1 })),
    ).toEqual(['policy_loads_total{} 1']);
    expect(
      lines(policyLoadMetrics({ outcome: 'failed', ...base, error: 'e', problems: [], kept: undefined })),
    ).toEqual(['policy_load_failures_total{} 1']);
    expect(lines(cacheMetrics({ hits: 3, misses: 1 }))).toEqual([
      'verification_cache_hits_total{} 3',
      'verification_cache_misses_total{} 1',
    ]);
    expect(cacheMetrics({ hits: 0, misses: 0 })).toEqual([]);
    expect(lines(httpResponseMetrics(401))).toEqual(['rejected_requests_total{status_code=401} 1']);
    expect(httpResponseMetrics(200)).toEqual([]);
  });

  test('every catalogue metric but the Powertools cold start is produced by some event', () => {
    const produced = new Set<MetricDefinition>();
    const collect = (datums: readonly MetricDatum[]) => datums.forEach((item) => produced.add(item.metric));
    collect(
      reviewMetrics(
        reviewEvent(podRequest('a', [IMAGE, SIDECAR]), [
          check({ status: 'fail', image: IMAGE, failureAction: 'Audit' }),
          check({
            status: 'error',
            image: SIDECAR,
            container: 1,
            cause: {
              kind: 'deadline',
              registry: 'ghcr.io',
              detail: 'registry ghcr.io did not answer in time',
            },
          }),
        ]),
      ),
    );
    collect(reviewMetrics(reviewEvent(podRequest('b', [IMAGE]), [check({ status: 'skip', image: IMAGE })])));
    collect(
      reviewMetrics(
        reviewEvent(podRequest('d', [IMAGE]), [
          check({ status: 'fail', image: IMAGE, failureAction: 'Audit' }),
        ]),
      ),
    );
    collect(reviewMetrics(reviewEvent(podRequest('c', [IMAGE]), [], { error: 'e' })));
    const base = { location: 'p', cluster: undefined };
    collect(policyLoadMetrics({ outcome: 'loaded', ...base, version: 'v', policies: 1, objects: 1 }));
    collect(policyLoadMetrics({ outcome: 'failed', ...base, error: 'e', problems: [], kept: undefined }));
    collect(cacheMetrics({ hits: 1, misses: 1 }));
    collect(httpResponseMetrics(400));
    expect(METRIC_DEFINITIONS.filter((metric) => !produced.has(metric)).map((metric) => metric.name)).toEqual(
      [METRICS.coldStarts.name],
    );
  });
});

describe('PowertoolsMetricSink', () => {
  const saved = { ...process.env };
  let printed: string[];
  let spy: jest.SpyInstance;

  beforeEach(() => {
    // POWERTOOLS_DEV makes Powertools print through the global console (and disables metrics
    // unless POWERTOOLS_METRICS_DISABLED says otherwise).
    Object.assign(process.env, { POWERTOOLS_DEV: 'true', POWERTOOLS_METRICS_DISABLED: 'false' });
    printed = [];
    spy = jest.spyOn(console, 'log').mockImplementation((text: unknown) => {
      printed.push(String(text));
    });
  });

  afterEach(() => {
    spy.mockRestore();
    process.env = { ...saved };
  });

  test('one valid EMF document per dimension set, each holding only its own dimensions', () => {
    const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: 'imagegate-test-admit' });
    const sink = new PowertoolsMetricSink(metrics);
    recordReview(
      sink,
      reviewEvent(podRequest('a', [IMAGE]), [check({ status: 'pass', image: IMAGE })], {
        cluster: 'c1',
        durationMs: 100,
      }),
    );
    recordReview(
      sink,
      reviewEvent(podRequest('b', [IMAGE]), [check({ status: 'fail', image: IMAGE })], {
        cluster: 'c1',
        durationMs: 300,
      }),
    );
    for (const item of cacheMetrics({ hits: 1, misses: 1 })) sink.add(item);
    expect(printed).toEqual([]);
    sink.flush();

    const documents = printed.map((text) => JSON.parse(text) as Record<string, unknown>);
    for (const document of documents) expect(emfProblems(document)).toEqual([]);
    const metricsOut = documents.flatMap(emfMetrics);
    for (const metric of metricsOut) {
      expect(metric.namespace).toBe('imagegate');
      expect(metric.dimensionSets).toHaveLength(1);
      expect(metric.dimensionSets[0]?.service).toBe('imagegate-test-admit');
    }
    const find = (name: string, dimensions: Record<string, string>) =>
      metricsOut.filter(
        (metric) =>
          metric.name === name &&
          JSON.stringify(metric.dimensionSets[0]) ===
            JSON.stringify({ service: 'imagegate-test-admit', ...dimensions }),
      );
    expect(find('admission_requests_total', { request_allowed: 'true' }).map((m) => m.values)).toEqual([[1]]);
    expect(find('admission_requests_total', { request_allowed: 'false' }).map((m) => m.values)).toEqual([
      [1],
    ]);
    expect(
      find('admission_requests_total', {
        cluster: 'c1',
        resource_kind: 'Pod',
        resource_request_operation: 'create',
        request_allowed: 'false',
      }).map((m) => m.values),
    ).toEqual([[1]]);
    expect(find('admission_review_duration_seconds', {}).map((m) => [m.unit, m.values])).toEqual([
      ['Seconds', [0.1, 0.3]],
    ]);
    expect(find('admission_review_duration_seconds', { cluster: 'c1' }).map((m) => m.values)).toEqual([
      [0.1, 0.3],
    ]);
    expect(find('image_verifications_total', {}).map((m) => [m.unit, m.values])).toEqual([['Count', [1, 1]]]);
    expect(find('verification_cache_hits_total', {}).map((m) => m.values)).toEqual([[1]]);
    // Every datum went out under every one of its metric's dimension sets, and nowhere else.
    for (const metric of metricsOut) {
      const definition = METRIC_DEFINITIONS.find((candidate) => candidate.name === metric.name)!;
      expect(definition.dimensionSets.map((set) => [...set].sort().join())).toContain(
        Object.keys(metric.dimensionSets[0]!).sort().join(),
      );
    }

    printed.length = 0;
    sink.flush();
    expect(printed).toEqual([]);
  });
});
