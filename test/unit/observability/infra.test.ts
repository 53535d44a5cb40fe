/**
 * infra/dashboard.cjs and infra/alarms.cjs against the metric catalogue: every widget and alarm
 * names a metric the code emits, with dimensions and values it emits; thresholds follow the
 * webhook timeout; the Logs Insights query reads fields the records have.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_TIMEOUT_SECONDS } from '../../../lib/cli/webhook-config';
import {
  LOG_RECORDS,
  METRIC_DEFINITIONS,
  REGISTRY_ERROR_CLASSES,
  REGISTRY_OUTAGE_CLASSES,
} from '../../../lib/observability/catalogue';
import { admittedUnverifiedRecords } from '../../../lib/observability/records';
import { podRequest } from '../../support/builders';
import { check, reviewEvent } from '../../support/review-events';
import {
  alarmProblems,
  alarmReferences,
  dashboardProblems,
  widgetMetrics,
  type InfraSettings,
  type Widget,
} from '../../support/infra-check';

interface DashboardModule {
  dashboardBody(settings: InfraSettings): { widgets: Widget[] };
  UNVERIFIED_DIGESTS_QUERY: string;
  ERROR_CLASSES: string[];
}
interface AlarmsModule {
  alarms(
    settings: InfraSettings,
  ): Record<string, Parameters<typeof alarmProblems>[0] & Record<string, unknown>>;
  WEBHOOK_TIMEOUT_SECONDS: number;
  NEAR_TIMEOUT: number;
  OUTAGE_CLASSES: string[];
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const dashboard = require('../../../infra/dashboard.cjs') as DashboardModule;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const alarmsModule = require('../../../infra/alarms.cjs') as AlarmsModule;

const fleet: InfraSettings = {
  stage: 'prod',
  region: 'eu-west-1',
  clusters: ['prod-eu-1', 'prod-us-1', 'edge-7'],
  functionName: 'imagegate-prod-admit',
  service: 'imagegate-prod-admit',
  lambdaTimeoutSeconds: 28,
};
const noClusters: InfraSettings = {
  ...fleet,
  stage: 'dev',
  clusters: [],
  functionName: 'imagegate-dev-admit',
  service: 'imagegate-dev-admit',
};

describe.each([
  ['three clusters', fleet],
  ['no cluster list', noClusters],
])('the dashboard, %s', (_name, settings) => {
  const body = dashboard.dashboardBody(settings);

  test('every widget names only metrics the code emits, with their dimensions and values; no overlap', () => {
    expect(dashboardProblems(body, settings)).toEqual([]);
  });

  test('every cluster has its lines in the per-cluster widgets, and no other cluster appears', () => {
    const clusters = new Set(
      body.widgets
        .filter((widget) => widget.type === 'metric')
        .flatMap((widget) => widgetMetrics(widget).references)
        .map((reference) => reference.dimensions.cluster)
        .filter((cluster) => cluster !== undefined),
    );
    expect([...clusters].sort()).toEqual([...settings.clusters].sort());
  });

  test('the alarm widget lists every alarm of the stage', () => {
    const widget = body.widgets.find((candidate) => candidate.type === 'alarm');
    const names = Object.values(alarmsModule.alarms(settings)).map((alarm) => alarm.AlarmName);
    expect((widget?.properties.alarms as string[]).map((arn) => arn.split(':alarm:')[1])).toEqual(names);
  });
});

test('the dashboard shows the catalogue’s metrics, the Powertools cold start included', () => {
  const shown = new Set(
    dashboard
      .dashboardBody(fleet)
      .widgets.filter((widget) => widget.type === 'metric')
      .flatMap((widget) => widgetMetrics(widget).references)
      .map((reference) => reference.name),
  );
  expect(METRIC_DEFINITIONS.map((metric) => metric.name).filter((name) => !shown.has(name))).toEqual([]);
});

test('a dashboard naming a metric the code does not emit is caught', () => {
  const body = dashboard.dashboardBody(fleet);
  const broken = structuredClone(body);
  const widget = broken.widgets.find((candidate) => candidate.type === 'metric')!;
  (widget.properties.metrics as unknown[][]).push([
    'imagegate',
    'admission_requests_total',
    'service',
    fleet.service,
    'namespace',
    'default',
    {},
  ]);
  (widget.properties.metrics as unknown[][]).push([
    'imagegate',
    'admission_denials',
    'service',
    fleet.service,
    {},
  ]);
  (widget.properties.metrics as unknown[][]).push([
    'imagegate',
    'registry_errors_total',
    'service',
    fleet.service,
    'error_class',
    'teapot',
    {},
  ]);
  expect(dashboardProblems(broken, fleet)).toEqual([
    expect.stringContaining('are none of the metric'),
    expect.stringContaining('not in the catalogue'),
    expect.stringContaining('error_class=teapot is never emitted'),
  ]);
});

test('the error classes of the dashboard and alarms are the catalogue’s', () => {
  expect(dashboard.ERROR_CLASSES).toEqual([...REGISTRY_ERROR_CLASSES]);
  expect(alarmsModule.OUTAGE_CLASSES).toEqual([...REGISTRY_OUTAGE_CLASSES]);
});

test('the Logs Insights query reads admitted_unverified records by fields they have', () => {
  const query = dashboard.UNVERIFIED_DIGESTS_QUERY;
  const [record] = admittedUnverifiedRecords(
    reviewEvent(podRequest('p', ['ghcr.io/a/b:1']), [
      check({
        status: 'fail',
        image: 'ghcr.io/a/b:1',
        failureAction: 'Audit',
        digest: `sha256:${'2'.repeat(64)}`,
      }),
    ]),
  );
  expect(query).toContain(`filter record = "${record!.record}"`);
  expect(LOG_RECORDS).toContain(record!.record);
  for (const field of ['cluster', 'digest', 'image']) {
    expect(query).toContain(field);
    expect(record).toHaveProperty(field);
  }
});

describe.each([
  ['three clusters', fleet],
  ['no cluster list', noClusters],
])('the alarms, %s', (_name, settings) => {
  const alarms = alarmsModule.alarms(settings);

  test('every alarm reads metrics the code (or Lambda) emits, with valid expressions', () => {
    for (const alarm of Object.values(alarms)) expect(alarmProblems(alarm, settings)).toEqual([]);
  });

  test('the set the issue asks for, one denials alarm per listed cluster, names unique', () => {
    const names = Object.values(alarms).map((alarm) => alarm.AlarmName);
    expect(names).toEqual([
      `imagegate-${settings.stage}-denials-spike`,
      ...settings.clusters.map((cluster) => `imagegate-${settings.stage}-denials-spike-${cluster}`),
      `imagegate-${settings.stage}-registry-error-rate`,
      `imagegate-${settings.stage}-policy-load-failure`,
      `imagegate-${settings.stage}-review-duration-p99`,
      `imagegate-${settings.stage}-lambda-duration-p99`,
      `imagegate-${settings.stage}-lambda-errors`,
      `imagegate-${settings.stage}-lambda-throttles`,
    ]);
    for (const id of Object.keys(alarms)) expect(id).toMatch(/^[A-Za-z0-9]{1,255}$/);
  });

  test('each per-cluster denials alarm watches its own cluster', () => {
    for (const cluster of settings.clusters) {
      const alarm = Object.values(alarms).find((candidate) => candidate.AlarmName.endsWith(`-${cluster}`))!;
      expect(new Set(alarmReferences(alarm).map((reference) => reference.dimensions.cluster))).toEqual(
        new Set([cluster]),
      );
    }
  });
});

test('duration alarms sit below the webhook timeout imagegate webhook-config writes and the Lambda timeout', () => {
  expect(alarmsModule.WEBHOOK_TIMEOUT_SECONDS).toBe(DEFAULT_TIMEOUT_SECONDS);
  const alarms = Object.values(alarmsModule.alarms(fleet));
  const review = alarms.find((alarm) => alarm.AlarmName.endsWith('review-duration-p99'))!;
  expect(review).toMatchObject({
    ExtendedStatistic: 'p99',
    Threshold: DEFAULT_TIMEOUT_SECONDS * alarmsModule.NEAR_TIMEOUT,
  });
  const lambda = alarms.find((alarm) => alarm.AlarmName.endsWith('lambda-duration-p99'))!;
  expect(lambda).toMatchObject({ ExtendedStatistic: 'p99', Threshold: 28_000 * alarmsModule.NEAR_TIMEOUT });
  expect(lambda.Threshold as number).toBeLessThan(28_000);
});

test('cluster names that would share a logical id get distinct ones', () => {
  const ids = Object.keys(alarmsModule.alarms({ ...fleet, clusters: ['a-1', 'a1', 'a--1'] }));
  expect(new Set(ids).size).toBe(ids.length);
});

describe('docs/operations.md', () => {
  const text = readFileSync(join(__dirname, '..', '..', '..', 'docs', 'operations.md'), 'utf8');

  test('documents every metric, every registry error class and every alarm, with a runbook section', () => {
    for (const metric of METRIC_DEFINITIONS) expect(text).toContain(`\`${metric.name}\``);
    for (const errorClass of REGISTRY_ERROR_CLASSES) expect(text).toContain(`| \`${errorClass}\``);
    for (const alarm of Object.values(alarmsModule.alarms(fleet))) {
      const cluster = fleet.clusters.find((candidate) => alarm.AlarmName.endsWith(`-${candidate}`));
      const name = alarm.AlarmName.replace('imagegate-prod-', '').replace(cluster ? `-${cluster}` : '', '');
      expect(text).toContain(`imagegate-<stage>-${name}`);
      const anchor = /docs\/operations\.md#([a-z0-9-]+)/.exec(String(alarm.AlarmDescription))?.[1];
      const headings = [...text.matchAll(/^### (.+)$/gm)].map((match) =>
        match[1]!
          .toLowerCase()
          .replace(/[^a-z0-9 -]/g, '')
          .replace(/ /g, '-'),
      );
      expect(headings).toContain(anchor);
    }
  });

  test('shows the unverified digests query the dashboard runs', () => {
    for (const line of dashboard.UNVERIFIED_DIGESTS_QUERY.split('\n| ')) expect(text).toContain(line);
  });
});
