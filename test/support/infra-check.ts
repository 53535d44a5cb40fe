/**
 * Checks that the dashboard and the alarms in infra/ name only metrics the code emits: the
 * catalogue's names, exactly one of a metric's dimension sets, and dimension values the code can
 * produce (service = the function, clusters from the stage's list, enumerated values from
 * DIMENSION_VALUES). Used on the builders (unit) and on `osls package` output (integration).
 */
import {
  DIMENSION_VALUES,
  METRICS_NAMESPACE,
  metricNamed,
  type DimensionName,
} from '../../lib/observability/catalogue';

export interface InfraSettings {
  readonly stage: string;
  readonly region: string;
  readonly clusters: readonly string[];
  readonly functionName: string;
  readonly service: string;
  readonly lambdaTimeoutSeconds: number;
}

/** AWS/Lambda metrics the function has (FunctionName dimension). */
const LAMBDA_METRICS = ['Invocations', 'Errors', 'Throttles', 'Duration', 'ConcurrentExecutions'];

export interface MetricReference {
  readonly namespace: string;
  readonly name: string;
  readonly dimensions: Readonly<Record<string, string>>;
}

/** Why `reference` is not a metric the code (or Lambda) emits; empty when it is. */
export function referenceProblems(reference: MetricReference, settings: InfraSettings): string[] {
  const label = `${reference.namespace}/${reference.name}${JSON.stringify(reference.dimensions)}`;
  if (reference.namespace === 'AWS/Lambda') {
    const problems: string[] = [];
    if (!LAMBDA_METRICS.includes(reference.name))
      problems.push(`${label}: not a Lambda metric this dashboard knows`);
    if (JSON.stringify(reference.dimensions) !== JSON.stringify({ FunctionName: settings.functionName })) {
      problems.push(`${label}: Lambda metrics are selected by FunctionName=${settings.functionName} alone`);
    }
    return problems;
  }
  if (reference.namespace !== METRICS_NAMESPACE) return [`${label}: unknown namespace`];
  const metric = metricNamed(reference.name);
  if (!metric) return [`${label}: not in the catalogue (lib/observability/catalogue.ts)`];
  const names = Object.keys(reference.dimensions).sort().join();
  if (!metric.dimensionSets.some((set) => [...set].sort().join() === names)) {
    return [`${label}: dimensions {${names}} are none of the metric's dimension sets`];
  }
  const problems: string[] = [];
  for (const [name, value] of Object.entries(reference.dimensions)) {
    const allowed: readonly string[] | undefined = DIMENSION_VALUES[name as DimensionName];
    if (name === 'service' && value !== settings.service)
      problems.push(`${label}: service is not ${settings.service}`);
    if (name === 'cluster' && !settings.clusters.includes(value))
      problems.push(`${label}: cluster ${value} is not listed`);
    if (name === 'function_name' && value !== settings.functionName) problems.push(`${label}: function_name`);
    if (allowed && !allowed.includes(value)) problems.push(`${label}: ${name}=${value} is never emitted`);
  }
  return problems;
}

export interface Widget {
  type: string;
  x: number;
  y: number;
  width: number;
  height: number;
  properties: Record<string, unknown>;
}

/** The metric references and expressions of a dashboard metric widget. */
export function widgetMetrics(widget: Widget): { references: MetricReference[]; problems: string[] } {
  const references: MetricReference[] = [];
  const problems: string[] = [];
  const ids = new Set<string>();
  const expressions: string[] = [];
  for (const line of (widget.properties.metrics as unknown[][] | undefined) ?? []) {
    const last = line[line.length - 1];
    const options = typeof last === 'object' && last !== null ? (last as Record<string, unknown>) : {};
    if (typeof options.id === 'string') ids.add(options.id);
    if (typeof options.expression === 'string') {
      expressions.push(options.expression);
      continue;
    }
    const parts = (options === last ? line.slice(0, -1) : line) as string[];
    const [namespace, name, ...pairs] = parts;
    if (!namespace || !name || pairs.length % 2 !== 0 || namespace === '...' || namespace === '.') {
      problems.push(
        `${String(widget.properties.title)}: metric line ${JSON.stringify(line)} is not spelled out`,
      );
      continue;
    }
    const dimensions: Record<string, string> = {};
    for (let index = 0; index < pairs.length; index += 2) dimensions[pairs[index]!] = pairs[index + 1]!;
    references.push({ namespace, name, dimensions });
  }
  for (const expression of expressions) {
    for (const id of expressionIds(expression)) {
      if (!ids.has(id))
        problems.push(`${String(widget.properties.title)}: expression names unknown id ${id}`);
    }
  }
  return { references, problems };
}

/** The metric ids an expression names (lower-case identifiers that are not functions). */
export function expressionIds(expression: string): string[] {
  return [...expression.matchAll(/\b([a-z][a-zA-Z0-9_]*)\b(?!\s*\()/g)].map((match) => match[1]!);
}

/** Every problem of a dashboard body: metric references, expressions, layout. */
export function dashboardProblems(body: { widgets: Widget[] }, settings: InfraSettings): string[] {
  const problems: string[] = [];
  const cells = new Set<string>();
  for (const widget of body.widgets) {
    if (widget.x < 0 || widget.x + widget.width > 24)
      problems.push(`widget at x=${widget.x} is outside the grid`);
    for (let x = widget.x; x < widget.x + widget.width; x++) {
      for (let y = widget.y; y < widget.y + widget.height; y++) {
        if (cells.has(`${x},${y}`)) problems.push(`widgets overlap at ${x},${y}`);
        cells.add(`${x},${y}`);
      }
    }
    if (widget.type !== 'metric') continue;
    if (widget.properties.region !== settings.region)
      problems.push(`${String(widget.properties.title)}: region`);
    const { references, problems: own } = widgetMetrics(widget);
    problems.push(...own);
    if (references.length === 0) problems.push(`${String(widget.properties.title)}: no metric`);
    for (const reference of references) problems.push(...referenceProblems(reference, settings));
  }
  return problems;
}

interface AlarmProperties {
  AlarmName: string;
  Namespace?: string;
  MetricName?: string;
  Dimensions?: { Name: string; Value: string }[];
  Metrics?: {
    Id: string;
    Expression?: string;
    ReturnData?: boolean;
    MetricStat?: {
      Metric: { Namespace: string; MetricName: string; Dimensions: { Name: string; Value: string }[] };
    };
  }[];
}

/** The metrics an alarm reads. */
export function alarmReferences(alarm: AlarmProperties): MetricReference[] {
  const reference = (
    namespace: string,
    name: string,
    dimensions: { Name: string; Value: string }[] = [],
  ) => ({
    namespace,
    name,
    dimensions: Object.fromEntries(dimensions.map((dimension) => [dimension.Name, dimension.Value])),
  });
  if (alarm.MetricName && alarm.Namespace)
    return [reference(alarm.Namespace, alarm.MetricName, alarm.Dimensions)];
  return (alarm.Metrics ?? [])
    .filter((query) => query.MetricStat)
    .map((query) => {
      const { Metric } = query.MetricStat!;
      return reference(Metric.Namespace, Metric.MetricName, Metric.Dimensions);
    });
}

/** Every problem of one alarm: its metrics, its expressions and what it returns. */
export function alarmProblems(alarm: AlarmProperties, settings: InfraSettings): string[] {
  const problems = alarmReferences(alarm).flatMap((reference) => referenceProblems(reference, settings));
  if (alarmReferences(alarm).length === 0) problems.push(`${alarm.AlarmName}: reads no metric`);
  if (alarm.Metrics) {
    const ids = new Set(alarm.Metrics.map((query) => query.Id));
    for (const query of alarm.Metrics) {
      for (const id of expressionIds(query.Expression ?? '')) {
        if (!ids.has(id)) problems.push(`${alarm.AlarmName}: expression names unknown id ${id}`);
      }
    }
    if (alarm.Metrics.filter((query) => query.ReturnData).length !== 1) {
      problems.push(`${alarm.AlarmName}: exactly one query must return data`);
    }
    if (alarm.Metrics.length > 10) problems.push(`${alarm.AlarmName}: more than 10 queries`);
  }
  return problems;
}
