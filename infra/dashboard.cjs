// @ts-check
'use strict';
/**
 * The CloudWatch dashboard of a stage (serverless.yml `resources:` loads
 * `${file(infra/dashboard.cjs):resources}`): fleet-wide rows, one line per cluster of the
 * `clusters` stage parameter in the per-cluster rows, the alarms, and the Logs Insights table of
 * unverified digests admitted. Every metric it names is in lib/observability/catalogue.ts
 * (test/unit/observability/infra.test.ts checks names, dimensions and values);
 * `node scripts/render-dashboard.mjs` draws its layout into docs/dashboard.svg.
 */
const { alarms, settings, NEAR_TIMEOUT, OUTAGE_CLASSES, WEBHOOK_TIMEOUT_SECONDS } = require('./alarms.cjs');

const NAMESPACE = 'imagegate';
const PERIOD = 300;
const WIDTH = 24;
const ROW = 6;
/** Every registry error class, from the one list lib/observability/catalogue.ts reads too. */
const ERROR_CLASSES = Object.keys(require('../lib/observability/registry-error-classes.json'));

/**
 * @typedef {import('./alarms.cjs').Settings} Settings
 * @typedef {(string | Record<string, unknown>)[]} MetricLine
 * @typedef {{ type: string, x: number, y: number, width: number, height: number, properties: Record<string, unknown> }} Widget
 */

/**
 * The Logs Insights query of docs/operations.md: which clusters admitted which unverified digests.
 * A log widget runs it over the dashboard's time range.
 */
const UNVERIFIED_DIGESTS_QUERY = [
  'fields @timestamp, cluster, image, coalesce(digest, image) as digest_or_ref',
  'filter record = "admitted_unverified"',
  'stats count(*) as admissions, earliest(@timestamp) as first_seen, latest(@timestamp) as last_seen by cluster, digest_or_ref, image',
  'sort last_seen desc',
  'limit 1000',
].join('\n| ');

/** The dashboard body (CloudWatch dashboard JSON) for `settings`; `${AWS::AccountId}` is left for Fn::Sub. */
function dashboardBody(/** @type {Settings} */ settings) {
  const { clusters, region } = settings;
  /** An imagegate metric line; `dimensions` besides `service`. */
  const ours = (
    /** @type {string} */ name,
    /** @type {Record<string, string>} */ dimensions,
    /** @type {Record<string, unknown>} */ options = {},
  ) =>
    /** @type {MetricLine} */ ([
      NAMESPACE,
      name,
      'service',
      settings.service,
      ...Object.entries(dimensions).flat(),
      options,
    ]);
  const lambda = (/** @type {string} */ name, /** @type {Record<string, unknown>} */ options = {}) =>
    /** @type {MetricLine} */ (['AWS/Lambda', name, 'FunctionName', settings.functionName, options]);
  const graph = (
    /** @type {string} */ title,
    /** @type {MetricLine[]} */ metrics,
    /** @type {Record<string, unknown>} */ options = {},
  ) => ({
    type: 'metric',
    properties: {
      title,
      region,
      view: 'timeSeries',
      stacked: false,
      period: PERIOD,
      stat: 'Sum',
      metrics,
      ...options,
    },
  });
  const perCluster = (/** @type {(cluster: string, index: number) => MetricLine[]} */ lines) =>
    clusters.flatMap((cluster, index) => lines(cluster, index));
  const hidden = { visible: false };

  /** @type {{ type: string, properties: Record<string, unknown>, width?: number, height?: number }[][]} */
  const rows = [
    [
      {
        type: 'text',
        height: 2,
        properties: {
          markdown: [
            `# imagegate — ${settings.stage}`,
            `Function \`${settings.functionName}\`, clusters: ${clusters.length > 0 ? clusters.map((cluster) => `\`${cluster}\``).join(', ') : '_none listed: set `clusters` under params in serverless.yml for the per-cluster rows_'}. ` +
              'What each widget and alarm means, and what to do: docs/operations.md.',
          ].join('\n\n'),
        },
      },
    ],
    [
      graph('Admission requests (fleet)', [
        ours('admission_requests_total', { request_allowed: 'true' }, { label: 'allowed', color: '#2ca02c' }),
        ours('admission_requests_total', { request_allowed: 'false' }, { label: 'denied', color: '#d62728' }),
        ours('admission_warnings_total', {}, { label: 'allowed with warnings', color: '#ff7f0e' }),
      ]),
      graph(
        'Denied share (fleet)',
        [
          ours('admission_requests_total', { request_allowed: 'true' }, { id: 'allowed', ...hidden }),
          ours('admission_requests_total', { request_allowed: 'false' }, { id: 'denied', ...hidden }),
          [
            {
              expression: '100 * FILL(denied, 0) / (FILL(denied, 0) + FILL(allowed, 0))',
              label: 'denied %',
              id: 'denied_percent',
            },
          ],
        ],
        { yAxis: { left: { min: 0, max: 100, label: '%', showUnits: false } } },
      ),
      graph(
        'Review duration (fleet)',
        [
          ours('admission_review_duration_seconds', {}, { stat: 'p50', label: 'p50' }),
          ours('admission_review_duration_seconds', {}, { stat: 'p99', label: 'p99' }),
          ours('admission_review_duration_seconds', {}, { stat: 'Maximum', label: 'maximum' }),
        ],
        {
          annotations: {
            horizontal: [
              {
                label: `alarm (${NEAR_TIMEOUT * 100} % of the timeout)`,
                value: WEBHOOK_TIMEOUT_SECONDS * NEAR_TIMEOUT,
                color: '#ff7f0e',
              },
              { label: 'webhook timeout', value: WEBHOOK_TIMEOUT_SECONDS, color: '#d62728' },
            ],
          },
        },
      ),
    ],
    ...(clusters.length > 0
      ? [
          [
            graph(
              'Admission requests by cluster',
              perCluster((cluster, index) => [
                ours(
                  'admission_requests_total',
                  { cluster, request_allowed: 'true' },
                  { id: `a${index}`, ...hidden },
                ),
                ours(
                  'admission_requests_total',
                  { cluster, request_allowed: 'false' },
                  { id: `d${index}`, ...hidden },
                ),
                [
                  {
                    expression: `FILL(a${index}, 0) + FILL(d${index}, 0)`,
                    label: cluster,
                    id: `total${index}`,
                  },
                ],
              ]),
            ),
            graph(
              'Denials by cluster',
              perCluster((cluster) => [
                ours('admission_requests_total', { cluster, request_allowed: 'false' }, { label: cluster }),
              ]),
            ),
            graph(
              'Review duration p99 by cluster',
              perCluster((cluster) => [
                ours('admission_review_duration_seconds', { cluster }, { stat: 'p99', label: cluster }),
              ]),
            ),
          ],
        ]
      : []),
    [
      graph(
        'Image verifications by result (fleet)',
        ['pass', 'fail', 'error', 'skip'].map((result) =>
          ours('image_verifications_total', { rule_result: result }, { label: result }),
        ),
      ),
      graph('Admitted unverified (fleet)', [
        ours(
          'admitted_unverified_total',
          { policy_validation_mode: 'audit' },
          { label: 'Audit: Enforce would block' },
        ),
        ours(
          'admitted_unverified_total',
          { policy_validation_mode: 'enforce' },
          { label: 'failurePolicy Ignore' },
        ),
      ]),
      graph('Verification cache', [
        ours('verification_cache_hits_total', {}, { id: 'hits', label: 'hits' }),
        ours('verification_cache_misses_total', {}, { id: 'misses', label: 'misses' }),
        [{ expression: '100 * hits / (hits + misses)', label: 'hit ratio %', id: 'ratio', yAxis: 'right' }],
      ]),
    ],
    [
      graph(
        'Registry errors by class (fleet)',
        ERROR_CLASSES.map((errorClass) =>
          ours('registry_errors_total', { error_class: errorClass }, { label: errorClass }),
        ),
      ),
      graph('Registry error rate, outage classes (fleet)', [
        ...OUTAGE_CLASSES.map((errorClass) =>
          ours('registry_errors_total', { error_class: errorClass }, { id: `e_${errorClass}`, ...hidden }),
        ),
        ours('image_verifications_total', {}, { id: 'checks', ...hidden }),
        [
          {
            expression: `100 * SUM([${OUTAGE_CLASSES.map((errorClass) => `FILL(e_${errorClass}, 0)`).join(', ')}]) / FILL(checks, 1)`,
            label: 'registry error %',
            id: 'error_percent',
          },
        ],
      ]),
      graph('Deadline hits and failed reviews (fleet)', [
        ours('deadline_hits_total', {}, { label: 'deadline hits' }),
        ours('admission_review_failures_total', {}, { label: 'failed reviews (denied)' }),
        ours(
          'image_verification_duration_seconds',
          {},
          { stat: 'p99', label: 'verification p99 (s)', yAxis: 'right' },
        ),
      ]),
    ],
    ...(clusters.length > 0
      ? [
          [
            graph(
              'Admitted unverified under Audit by cluster',
              perCluster((cluster) => [
                ours(
                  'admitted_unverified_total',
                  { cluster, policy_validation_mode: 'audit' },
                  { label: cluster },
                ),
              ]),
            ),
            graph(
              'Registry errors by cluster',
              perCluster((cluster) => [ours('registry_errors_total', { cluster }, { label: cluster })]),
            ),
            graph(
              'Deadline hits by cluster',
              perCluster((cluster) => [ours('deadline_hits_total', { cluster }, { label: cluster })]),
            ),
          ],
        ]
      : []),
    [
      graph('Policy loads', [
        ours('policy_loads_total', {}, { label: 'loaded' }),
        ours('policy_load_failures_total', {}, { label: 'failed', color: '#d62728' }),
      ]),
      graph(
        'Requests refused before review',
        ['400', '401', '503'].map((code) =>
          ours('rejected_requests_total', { status_code: code }, { label: code }),
        ),
      ),
      graph('Lambda', [
        lambda('Invocations', { label: 'invocations' }),
        lambda('Errors', { label: 'errors', color: '#d62728' }),
        lambda('Throttles', { label: 'throttles', color: '#ff7f0e' }),
        ours('ColdStart', { function_name: settings.functionName }, { label: 'cold starts' }),
      ]),
      graph('Lambda duration and concurrency', [
        lambda('Duration', { stat: 'p99', label: 'duration p99 (ms)' }),
        lambda('ConcurrentExecutions', { stat: 'Maximum', label: 'concurrent executions', yAxis: 'right' }),
      ]),
    ],
    [
      {
        type: 'alarm',
        height: 3,
        properties: {
          title: 'Alarms',
          alarms: Object.values(alarms(settings)).map(
            (alarm) =>
              `arn:\${AWS::Partition}:cloudwatch:${region}:\${AWS::AccountId}:alarm:${alarm.AlarmName}`,
          ),
        },
      },
    ],
    [
      {
        type: 'log',
        height: 6,
        properties: {
          title: 'Unverified digests admitted, by cluster (dashboard time range)',
          region,
          view: 'table',
          query: `SOURCE '/aws/lambda/${settings.functionName}' | ${UNVERIFIED_DIGESTS_QUERY}`,
        },
      },
    ],
  ];

  /** @type {Widget[]} */
  const widgets = [];
  let y = 0;
  for (const row of rows) {
    const width = Math.floor(WIDTH / row.length);
    const height = Math.max(...row.map((widget) => widget.height ?? ROW));
    row.forEach((widget, index) => {
      widgets.push({ type: widget.type, x: index * width, y, width, height, properties: widget.properties });
    });
    y += height;
  }
  return { start: '-PT6H', periodOverride: 'inherit', widgets };
}

/** `text` for Fn::Sub: every `${` that is not an AWS pseudo parameter is escaped (`${!`). */
function forSub(/** @type {string} */ text) {
  return text.replace(/\$\{(?!AWS::)/g, '${!');
}

/** The CloudFormation resources: the dashboard `imagegate-<stage>`. */
async function resources(/** @type {import('./stage.cjs').ResolverContext} */ context) {
  const current = await settings(context);
  return {
    Resources: {
      Dashboard: {
        Type: 'AWS::CloudWatch::Dashboard',
        Properties: {
          DashboardName: `imagegate-${current.stage}`,
          DashboardBody: { 'Fn::Sub': forSub(JSON.stringify(dashboardBody(current))) },
        },
      },
    },
    Outputs: {
      DashboardUrl: {
        Description: 'The imagegate CloudWatch dashboard of this stage',
        Value: {
          'Fn::Sub': `https://\${AWS::Region}.console.aws.amazon.com/cloudwatch/home?region=\${AWS::Region}#dashboards:name=imagegate-${current.stage}`,
        },
      },
    },
  };
}

module.exports = { resources, dashboardBody, UNVERIFIED_DIGESTS_QUERY, ERROR_CLASSES };
