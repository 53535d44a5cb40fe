/**
 * Checks a document against the CloudWatch Embedded Metric Format specification
 * (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
 * `_aws` with an integer millisecond `Timestamp` and `CloudWatchMetrics` directives, each with a
 * `Namespace`, `Dimensions` (an array of dimension sets, each an array of at most 30 names) and
 * `Metrics` (at most 100 `{Name, Unit?, StorageResolution?}`); every dimension named is a top-level
 * string member and every metric a top-level number (or array of at most 100 numbers).
 */

const UNITS = new Set([
  'Seconds',
  'Microseconds',
  'Milliseconds',
  'Bytes',
  'Kilobytes',
  'Megabytes',
  'Gigabytes',
  'Terabytes',
  'Bits',
  'Kilobits',
  'Megabits',
  'Gigabits',
  'Terabits',
  'Percent',
  'Count',
  'Bytes/Second',
  'Kilobytes/Second',
  'Megabytes/Second',
  'Gigabytes/Second',
  'Terabytes/Second',
  'Bits/Second',
  'Kilobits/Second',
  'Megabits/Second',
  'Gigabits/Second',
  'Terabits/Second',
  'Count/Second',
  'None',
]);

export interface EmfMetric {
  readonly namespace: string;
  readonly name: string;
  readonly unit: string | undefined;
  /** Each dimension set with its values. */
  readonly dimensionSets: readonly Readonly<Record<string, string>>[];
  readonly values: readonly number[];
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const isName = (value: unknown): value is string =>
  typeof value === 'string' && value.length > 0 && value.length <= 1024;

/** The spec violations of `document`; empty when it is a valid EMF document. */
export function emfProblems(document: unknown): string[] {
  const problems: string[] = [];
  if (!isObject(document)) return ['not a JSON object'];
  const aws = document._aws;
  if (!isObject(aws)) return ['_aws is missing or not an object'];
  if (typeof aws.Timestamp !== 'number' || !Number.isInteger(aws.Timestamp) || aws.Timestamp <= 0) {
    problems.push('_aws.Timestamp is not a positive integer of milliseconds');
  }
  const directives = aws.CloudWatchMetrics;
  if (!Array.isArray(directives) || directives.length === 0) {
    return [...problems, '_aws.CloudWatchMetrics is not a non-empty array'];
  }
  for (const [index, directive] of directives.entries()) {
    const at = `_aws.CloudWatchMetrics[${index}]`;
    if (!isObject(directive)) {
      problems.push(`${at} is not an object`);
      continue;
    }
    if (!isName(directive.Namespace)) problems.push(`${at}.Namespace is not a string of 1-1024 characters`);
    const dimensions = directive.Dimensions;
    if (!Array.isArray(dimensions)) {
      problems.push(`${at}.Dimensions is not an array`);
    } else {
      for (const [setIndex, set] of dimensions.entries()) {
        if (!Array.isArray(set) || set.length > 30 || !set.every(isName)) {
          problems.push(`${at}.Dimensions[${setIndex}] is not an array of at most 30 names`);
          continue;
        }
        for (const name of set) {
          if (typeof document[name] !== 'string' || document[name] === '') {
            problems.push(`dimension ${name} has no string value at the top level`);
          }
        }
      }
    }
    const metrics = directive.Metrics;
    if (!Array.isArray(metrics) || metrics.length === 0 || metrics.length > 100) {
      problems.push(`${at}.Metrics is not an array of 1-100 metrics`);
      continue;
    }
    for (const [metricIndex, metric] of metrics.entries()) {
      const where = `${at}.Metrics[${metricIndex}]`;
      if (!isObject(metric) || !isName(metric.Name)) {
        problems.push(`${where}.Name is not a string of 1-1024 characters`);
        continue;
      }
      if (metric.Unit !== undefined && (typeof metric.Unit !== 'string' || !UNITS.has(metric.Unit))) {
        problems.push(`${where}.Unit ${JSON.stringify(metric.Unit)} is not a CloudWatch unit`);
      }
      if (
        metric.StorageResolution !== undefined &&
        metric.StorageResolution !== 1 &&
        metric.StorageResolution !== 60
      ) {
        problems.push(`${where}.StorageResolution is neither 1 nor 60`);
      }
      const value = document[metric.Name];
      const values = Array.isArray(value) ? value : [value];
      if (
        values.length === 0 ||
        values.length > 100 ||
        !values.every((item) => typeof item === 'number' && Number.isFinite(item))
      ) {
        problems.push(
          `metric ${metric.Name} has no number (or array of at most 100 numbers) at the top level`,
        );
      }
    }
  }
  return problems;
}

/** The metrics of a valid EMF document, one entry per directive metric. */
export function emfMetrics(document: Record<string, unknown>): EmfMetric[] {
  const aws = document._aws as {
    CloudWatchMetrics: {
      Namespace: string;
      Dimensions: string[][];
      Metrics: { Name: string; Unit?: string }[];
    }[];
  };
  return aws.CloudWatchMetrics.flatMap((directive) =>
    directive.Metrics.map((metric) => {
      const value = document[metric.Name] as number | number[];
      return {
        namespace: directive.Namespace,
        name: metric.Name,
        unit: metric.Unit,
        dimensionSets: directive.Dimensions.map((set) =>
          Object.fromEntries(set.map((name) => [name, document[name] as string])),
        ),
        values: Array.isArray(value) ? value : [value],
      };
    }),
  );
}

/** True when `text` is (pretty-printed or not) JSON with an `_aws` member. */
export function isEmf(document: unknown): document is Record<string, unknown> {
  return isObject(document) && '_aws' in document;
}
