import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { createObservability } from '../../../lib/observability/powertools';
import { podRequest } from '../../support/builders';
import { check, reviewEvent } from '../../support/review-events';

const IMAGE = 'ghcr.io/acme/app:1.0';

/** A Log that keeps what it is told. */
function recorder() {
  const lines: { level: string; message: string; attributes: Record<string, unknown> }[] = [];
  const at =
    (level: string) =>
    (message: string, ...attributes: Record<string, unknown>[]) =>
      lines.push({ level, message, attributes: Object.assign({}, ...attributes) as Record<string, unknown> });
  return { lines, log: { info: at('info'), warn: at('warn'), error: at('error') } };
}

/** A Metrics stand-in that counts what it is asked to publish. */
function fakeMetrics(options: { failPublish?: boolean } = {}) {
  const published: { dimensions: Record<string, string>[]; metrics: [string, number][] }[] = [];
  let dimensions: Record<string, string>[] = [];
  let metrics: [string, number][] = [];
  const coldStarts: (string | undefined)[] = [];
  const fake = {
    addDimensions: (values: Record<string, string>) => void dimensions.push(values),
    addMetric: (name: string, _unit: string, value: number) => void metrics.push([name, value]),
    publishStoredMetrics: () => {
      if (options.failPublish) throw new RangeError('The number of metric dimensions must be lower than 29');
      published.push({ dimensions, metrics });
      dimensions = [];
      metrics = [];
    },
    captureColdStartMetric: (functionName?: string) => void coldStarts.push(functionName),
  };
  return { published, coldStarts, metrics: fake as unknown as Metrics };
}

const context = { functionName: 'imagegate-test-admit' } as Context;
type Request = Parameters<
  NonNullable<ReturnType<ReturnType<typeof createObservability>['middleware']>['after']>
>[0];
const request = (statusCode?: number) =>
  ({
    context,
    event: {},
    response: statusCode === undefined ? undefined : { statusCode },
    error: undefined,
    internal: {},
  }) as unknown as Request;

describe('createObservability', () => {
  test('a review: one decision record, an admitted-unverified record, metrics published after the invocation', async () => {
    const { lines, log } = recorder();
    const fake = fakeMetrics();
    const stats = { hits: 2, misses: 1, verifications: 1 };
    const observability = createObservability({
      records: log,
      metrics: fake.metrics,
      cacheStats: () => stats,
    });
    const middleware = observability.middleware();

    await middleware.before!(request());
    observability.observer.review!(
      reviewEvent(
        podRequest('a', [IMAGE]),
        [check({ status: 'fail', image: IMAGE, failureAction: 'Audit' })],
        {
          cluster: 'c1',
        },
      ),
    );
    expect(lines.map((line) => [line.level, line.message, line.attributes.record])).toEqual([
      ['info', 'admission decision', 'decision'],
      ['warn', 'image admitted unverified', 'admitted_unverified'],
    ]);
    expect(fake.published).toEqual([]);
    await middleware.after!(request(200));
    const names = fake.published.flatMap((document) => document.metrics.map(([name]) => name));
    expect(names).toContain('admission_requests_total');
    expect(names).toContain('verification_cache_hits_total');
    expect(fake.coldStarts).toEqual(['imagegate-test-admit']);

    // The cache counters are published as deltas; the cold start only once.
    fake.published.length = 0;
    stats.hits = 5;
    await middleware.before!(request());
    await middleware.after!(request(401));
    expect(fake.published.flatMap((document) => document.metrics)).toEqual(
      expect.arrayContaining([
        ['verification_cache_hits_total', 3],
        ['verification_cache_misses_total', 0],
        ['rejected_requests_total', 1],
      ]),
    );
    expect(fake.coldStarts).toHaveLength(1);
  });

  test('a cold start record with what the function says about itself', async () => {
    const { lines, log } = recorder();
    const observability = createObservability({
      records: log,
      metrics: fakeMetrics().metrics,
      coldStart: () => ({
        initDurationMs: 12.5,
        policySource: 's3',
        clusterTokens: true,
        registryCredentialSecrets: 2,
      }),
    });
    await observability.middleware().before!(request());
    expect(lines).toEqual([
      {
        level: 'info',
        message: 'cold start',
        attributes: {
          record: 'cold_start',
          initDurationMs: 12.5,
          policySource: 's3',
          clusterTokens: true,
          registryCredentialSecrets: 2,
        },
      },
    ]);
  });

  test('policy loads: INFO when loaded, ERROR with the problems when not', () => {
    const { lines, log } = recorder();
    const observability = createObservability({ records: log, metrics: fakeMetrics().metrics });
    observability.observer.policyLoad!({
      outcome: 'loaded',
      location: 'p',
      cluster: 'c1',
      version: 'v',
      policies: 2,
      objects: 2,
    });
    observability.observer.policyLoad!({
      outcome: 'failed',
      location: 'p',
      cluster: 'c1',
      error: 'bad',
      problems: ['a.yaml:1 spec: bad'],
      kept: 'v',
    });
    expect(lines.map((line) => [line.level, line.message, line.attributes.outcome])).toEqual([
      ['info', 'policy set loaded', 'loaded'],
      ['error', 'policy set not loaded', 'failed'],
    ]);
  });

  test('a failure to report never reaches the review: it is logged and swallowed', async () => {
    const { lines, log } = recorder();
    const fake = fakeMetrics({ failPublish: true });
    const observability = createObservability({ records: log, metrics: fake.metrics });
    const broken = {
      ...reviewEvent(podRequest('a', [IMAGE]), []),
      request: undefined,
    } as unknown as Parameters<NonNullable<typeof observability.observer.review>>[0];
    expect(() => observability.observer.review!(broken)).not.toThrow();
    observability.observer.review!(reviewEvent(podRequest('b', [IMAGE]), []));
    await expect(Promise.resolve(observability.middleware().after!(request(200)))).resolves.toBeUndefined();
    expect(lines.filter((line) => line.level === 'error').map((line) => line.attributes.what)).toEqual([
      'review',
      'metrics flush',
    ]);
  });
});
