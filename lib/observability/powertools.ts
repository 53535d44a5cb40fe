/**
 * Adapters: the pure records and datums of this folder, written with Powertools Logger (JSON
 * lines) and Metrics (CloudWatch Embedded Metric Format on stdout), flushed once per invocation.
 */
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type { VerificationStats } from '../cache/verification-cache';
import type { PolicyLoadEvent, ReviewEvent, RuntimeObserver } from '../review/events';
import { SERVICE_DIMENSION } from './catalogue';
import {
  cacheMetrics,
  httpResponseMetrics,
  policyLoadMetrics,
  recordReview,
  type MetricDatum,
  type MetricSink,
} from './metrics';
import { admittedUnverifiedRecords, decisionRecord, policyLoadRecord, type ColdStartRecord } from './records';
import type { Log } from '../ports';

/**
 * Buffers datums and publishes them on {@link flush}: one EMF document per dimension set and
 * values, holding every metric published under it. A datum whose metric has several dimension
 * sets (a fleet roll-up and a per-cluster one) goes into one document per set: a document never
 * carries a dimension that one of its sets leaves out.
 */
export class PowertoolsMetricSink implements MetricSink {
  private pending: MetricDatum[] = [];

  constructor(private readonly metrics: Metrics) {}

  add(datum: MetricDatum): void {
    this.pending.push(datum);
  }

  flush(): void {
    const documents = new Map<string, { dimensions: Record<string, string>; datums: MetricDatum[] }>();
    for (const datum of this.pending) {
      for (const names of datum.metric.dimensionSets) {
        const dimensions: Record<string, string> = {};
        for (const name of names) {
          const value = datum.dimensions[name];
          if (name !== SERVICE_DIMENSION && value !== undefined) dimensions[name] = value;
        }
        const key = JSON.stringify(Object.entries(dimensions));
        const document = documents.get(key) ?? { dimensions, datums: [] };
        document.datums.push(datum);
        documents.set(key, document);
      }
    }
    this.pending = [];
    for (const { dimensions, datums } of documents.values()) {
      if (Object.keys(dimensions).length > 0) this.metrics.addDimensions(dimensions);
      for (const datum of datums) this.metrics.addMetric(datum.metric.name, datum.metric.unit, datum.value);
      this.metrics.publishStoredMetrics();
    }
  }
}

export interface ObservabilityOptions {
  /** Where records go; decision records are audit data, so give it a logger that prints INFO. */
  readonly records: Log;
  readonly metrics: Metrics;
  /** The verification cache's counters (cache hits and misses are published as deltas). */
  readonly cacheStats?: () => VerificationStats | undefined;
  /** Written once, on the first invocation of this instance. */
  readonly coldStart?: () => Omit<ColdStartRecord, 'record'>;
}

export interface Observability {
  /** Pass to createRuntime's `observe` option. */
  readonly observer: RuntimeObserver;
  /** Middy middleware: cold start record and metric before, metrics flush after (and on error). */
  middleware(): MiddlewareObj<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Error, Context>;
  /** Publishes everything recorded so far (the middleware calls it after each invocation). */
  flush(): void;
}

/**
 * Wires records and metrics to Powertools. Reporting never changes an answer: a failure here is
 * logged and swallowed, so an admission review or a policy load goes on as if nothing was reported.
 */
export function createObservability(options: ObservabilityOptions): Observability {
  const { records, metrics } = options;
  const safely =
    <A extends unknown[]>(what: string, report: (...args: A) => void) =>
    (...args: A): void => {
      try {
        report(...args);
      } catch (error) {
        records.error('observability failed', {
          what,
          error: error instanceof Error ? error.message : String(error),
        });
      }
    };
  const sink = new PowertoolsMetricSink(metrics);
  const addAll = (datums: readonly MetricDatum[]) => {
    for (const datum of datums) sink.add(datum);
  };
  let seen = { hits: 0, misses: 0 };
  let coldStart = true;

  const flush = safely('metrics flush', () => {
    const stats = options.cacheStats?.();
    if (stats) {
      addAll(cacheMetrics({ hits: stats.hits - seen.hits, misses: stats.misses - seen.misses }));
      seen = { hits: stats.hits, misses: stats.misses };
    }
    sink.flush();
  });

  const observer: RuntimeObserver = {
    review: safely('review', (event: ReviewEvent) => {
      records.info('admission decision', { ...decisionRecord(event) });
      for (const record of admittedUnverifiedRecords(event)) {
        records.warn('image admitted unverified', { ...record });
      }
      recordReview(sink, event);
    }),
    policyLoad: safely('policy load', (event: PolicyLoadEvent) => {
      const record = { ...policyLoadRecord(event) };
      if (event.outcome === 'loaded') records.info('policy set loaded', record);
      else records.error('policy set not loaded', record);
      addAll(policyLoadMetrics(event));
    }),
  };

  return {
    observer,
    flush,
    middleware: () => ({
      before: safely('cold start', (request: { context: Context }) => {
        if (!coldStart) return;
        coldStart = false;
        if (options.coldStart) records.info('cold start', { record: 'cold_start', ...options.coldStart() });
        metrics.captureColdStartMetric(request.context.functionName);
      }),
      after: (request) => {
        const statusCode = request.response?.statusCode;
        if (statusCode !== undefined) safely('response', () => addAll(httpResponseMetrics(statusCode)))();
        flush();
      },
      onError: () => {
        flush();
      },
    }),
  };
}
