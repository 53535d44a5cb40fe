// @ts-check
'use strict';
/**
 * CloudWatch alarms of a stage, and an SNS topic they notify (serverless.yml `resources:` loads
 * `${file(infra/alarms.cjs):resources}`). Every imagegate metric named here is in the catalogue,
 * lib/observability/catalogue.ts (test/unit/observability/infra.test.ts checks it); docs/operations.md
 * says what each alarm means and what to do when it fires.
 *
 * The function publishes its metrics with the `service` dimension set to its own name
 * (`imagegate-<stage>-admit`, Lambda's AWS_LAMBDA_FUNCTION_NAME), so stages sharing an account
 * never mix.
 */
const { createHash } = require('node:crypto');
const { readStage } = require('./stage.cjs');
const registryErrorClasses = require('../lib/observability/registry-error-classes.json');

const NAMESPACE = 'imagegate';
/**
 * The API server's webhook timeout `imagegate webhook-config` writes (timeoutSeconds, its
 * DEFAULT_TIMEOUT_SECONDS); the review answers by the failure policy before it.
 */
const WEBHOOK_TIMEOUT_SECONDS = 15;
/** An alarm fires when p99 latency passes this share of the timeout it must stay under. */
const NEAR_TIMEOUT = 0.8;
const PERIOD = 300;
/** Denials spike: at least this many denials in a period, and at least this share of requests. */
const DENIALS_MIN = 5;
const DENIALS_PERCENT = 20;
/** Registry error rate: at least this many outage-class errors, and this share of image checks. */
const REGISTRY_ERRORS_MIN = 5;
const REGISTRY_ERROR_PERCENT = 10;
/**
 * The registry error classes that mean the registry (or the way to it) is unwell, from the one list
 * lib/observability/catalogue.ts reads too.
 */
const OUTAGE_CLASSES = Object.entries(registryErrorClasses)
  .filter(([, errorClass]) => errorClass.outage)
  .map(([name]) => name);

/**
 * @typedef {import('./stage.cjs').ResolverContext} ResolverContext
 * @typedef {{
 *   stage: string,
 *   region: string,
 *   clusters: string[],
 *   functionName: string,
 *   service: string,
 *   lambdaTimeoutSeconds: number,
 * }} Settings
 * @typedef {{ Name: string, Value: string }} Dimension
 * @typedef {{ Namespace: string, MetricName: string, Dimensions: Dimension[] }} Metric
 */

/** What the dashboard and the alarms are built from: the stage, its clusters and its function. */
async function settings(/** @type {ResolverContext} */ context) {
  const stage = await readStage(context);
  const service = String(await context.resolveConfigurationProperty(['service']));
  const region = String(
    context.options.region ?? (await context.resolveConfigurationProperty(['provider', 'region'])),
  );
  const timeout = Number(await context.resolveConfigurationProperty(['provider', 'timeout']));
  const functionName = `${service}-${stage.name}-admit`;
  return {
    stage: stage.name,
    region,
    clusters: stage.clusters,
    functionName,
    service: functionName,
    lambdaTimeoutSeconds: Number.isFinite(timeout) && timeout > 0 ? timeout : 6,
  };
}

/** An imagegate metric: `dimensions` besides `service`, in the order of its dimension set. */
function ours(
  /** @type {Settings} */ settings,
  /** @type {string} */ name,
  /** @type {Record<string, string>} */ dimensions = {},
) {
  return {
    Namespace: NAMESPACE,
    MetricName: name,
    Dimensions: [
      { Name: 'service', Value: settings.service },
      ...Object.entries(dimensions).map(([Name, Value]) => ({ Name, Value })),
    ],
  };
}

/** A metric of the function in AWS/Lambda. */
function lambda(/** @type {Settings} */ settings, /** @type {string} */ name) {
  return {
    Namespace: 'AWS/Lambda',
    MetricName: name,
    Dimensions: [{ Name: 'FunctionName', Value: settings.functionName }],
  };
}

function query(/** @type {string} */ id, /** @type {Metric} */ metric, /** @type {string} */ stat = 'Sum') {
  return { Id: id, MetricStat: { Metric: metric, Period: PERIOD, Stat: stat }, ReturnData: false };
}

function alarmName(/** @type {Settings} */ settings, /** @type {string} */ suffix) {
  return `imagegate-${settings.stage}-${suffix}`;
}

/** A CloudFormation-safe, collision-free logical id part for a cluster name. */
function clusterId(/** @type {string} */ cluster) {
  const words = cluster
    .split(/[^a-z0-9]+/)
    .filter(Boolean)
    .map((word) => word[0]?.toUpperCase() + word.slice(1));
  return `${words.join('')}${createHash('sha256').update(cluster).digest('hex').slice(0, 6)}`;
}

/** Denied share of the requests, when there are enough denials to matter. */
function denialsSpike(
  /** @type {Settings} */ settings,
  /** @type {Record<string, string>} */ scope,
  /** @type {string} */ where,
) {
  const requests = (/** @type {string} */ allowed) =>
    ours(settings, 'admission_requests_total', { ...scope, request_allowed: allowed });
  return {
    AlarmDescription: `More than ${DENIALS_PERCENT} % of admission requests denied ${where} (at least ${DENIALS_MIN} in ${PERIOD / 60} min). docs/operations.md#denials-spike`,
    Metrics: [
      query('allowed', requests('true')),
      query('denied', requests('false')),
      {
        Id: 'denied_percent',
        Label: 'denied %',
        Expression: `IF(FILL(denied, 0) >= ${DENIALS_MIN}, 100 * FILL(denied, 0) / (FILL(denied, 0) + FILL(allowed, 0)), 0)`,
        ReturnData: true,
      },
    ],
    ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    Threshold: DENIALS_PERCENT,
    EvaluationPeriods: 3,
    DatapointsToAlarm: 2,
  };
}

/**
 * The alarms of a stage, by logical id (CloudFormation `AWS::CloudWatch::Alarm` properties, less
 * the actions).
 * @returns {Record<string, Record<string, unknown> & { AlarmName: string }>}
 */
function alarms(/** @type {Settings} */ settings) {
  const reviewP99Seconds = Math.round(WEBHOOK_TIMEOUT_SECONDS * NEAR_TIMEOUT * 10) / 10;
  const lambdaP99Ms = Math.round(settings.lambdaTimeoutSeconds * 1000 * NEAR_TIMEOUT);
  /** @type {Record<string, Record<string, unknown>>} */
  const definitions = {
    DenialsSpikeAlarm: { name: 'denials-spike', ...denialsSpike(settings, {}, 'across the fleet') },
    ...Object.fromEntries(
      settings.clusters.map((cluster) => [
        `DenialsSpikeAlarm${clusterId(cluster)}`,
        {
          name: `denials-spike-${cluster}`,
          ...denialsSpike(settings, { cluster }, `on cluster ${cluster}`),
        },
      ]),
    ),
    RegistryErrorRateAlarm: {
      name: 'registry-error-rate',
      AlarmDescription: `More than ${REGISTRY_ERROR_PERCENT} % of image checks hit a registry outage (${OUTAGE_CLASSES.join(', ')}; at least ${REGISTRY_ERRORS_MIN} in ${PERIOD / 60} min). docs/operations.md#registry-error-rate`,
      Metrics: [
        ...OUTAGE_CLASSES.map((errorClass) =>
          query(`e_${errorClass}`, ours(settings, 'registry_errors_total', { error_class: errorClass })),
        ),
        query('checks', ours(settings, 'image_verifications_total')),
        {
          Id: 'errors',
          Expression: `SUM([${OUTAGE_CLASSES.map((errorClass) => `FILL(e_${errorClass}, 0)`).join(', ')}])`,
          ReturnData: false,
        },
        {
          Id: 'error_percent',
          Label: 'registry error %',
          Expression: `IF(errors >= ${REGISTRY_ERRORS_MIN}, 100 * errors / FILL(checks, 1), 0)`,
          ReturnData: true,
        },
      ],
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Threshold: REGISTRY_ERROR_PERCENT,
      EvaluationPeriods: 3,
      DatapointsToAlarm: 2,
    },
    PolicyLoadFailureAlarm: {
      name: 'policy-load-failure',
      AlarmDescription:
        'A policy set did not load (the last good set stays in force; with none, every request is denied). docs/operations.md#policy-load-failure',
      ...single(ours(settings, 'policy_load_failures_total'), 'Sum'),
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Threshold: 1,
      EvaluationPeriods: 1,
    },
    ReviewDurationAlarm: {
      name: 'review-duration-p99',
      AlarmDescription: `p99 admission review duration above ${reviewP99Seconds} s, ${NEAR_TIMEOUT * 100} % of the ${WEBHOOK_TIMEOUT_SECONDS} s webhook timeout. docs/operations.md#review-duration-p99`,
      ...single(ours(settings, 'admission_review_duration_seconds'), 'p99'),
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: reviewP99Seconds,
      EvaluationPeriods: 3,
      DatapointsToAlarm: 2,
    },
    LambdaDurationAlarm: {
      name: 'lambda-duration-p99',
      AlarmDescription: `p99 Lambda duration above ${lambdaP99Ms} ms, ${NEAR_TIMEOUT * 100} % of the function timeout (${settings.lambdaTimeoutSeconds} s). docs/operations.md#lambda-duration-p99`,
      ...single(lambda(settings, 'Duration'), 'p99'),
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: lambdaP99Ms,
      EvaluationPeriods: 3,
      DatapointsToAlarm: 2,
    },
    LambdaErrorsAlarm: {
      name: 'lambda-errors',
      AlarmDescription:
        'The function failed (crash or timeout): API Gateway answered 5xx and the API server applied the webhook failurePolicy. docs/operations.md#lambda-errors',
      ...single(lambda(settings, 'Errors'), 'Sum'),
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Threshold: 1,
      EvaluationPeriods: 1,
    },
    LambdaThrottlesAlarm: {
      name: 'lambda-throttles',
      AlarmDescription:
        'Invocations were throttled (concurrency limit): those admission requests got the webhook failurePolicy. docs/operations.md#lambda-throttles',
      ...single(lambda(settings, 'Throttles'), 'Sum'),
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Threshold: 1,
      EvaluationPeriods: 1,
    },
  };
  return Object.fromEntries(
    Object.entries(definitions).map(([id, { name, ...properties }]) => [
      id,
      {
        AlarmName: alarmName(settings, String(name)),
        ...properties,
        TreatMissingData: 'notBreaching',
      },
    ]),
  );
}

/** One metric and one statistic (an extended one such as p99 where needed). */
function single(/** @type {Metric} */ metric, /** @type {string} */ stat) {
  return {
    Namespace: metric.Namespace,
    MetricName: metric.MetricName,
    Dimensions: metric.Dimensions,
    Period: PERIOD,
    ...(/^p\d/.test(stat) ? { ExtendedStatistic: stat } : { Statistic: stat }),
  };
}

/** The CloudFormation resources: the alarm topic and every alarm, notifying it on alarm and on recovery. */
async function resources(/** @type {ResolverContext} */ context) {
  const current = await settings(context);
  const topic = { Ref: 'AlarmTopic' };
  return {
    Resources: {
      AlarmTopic: {
        Type: 'AWS::SNS::Topic',
        Properties: { TopicName: `imagegate-${current.stage}-alarms` },
      },
      ...Object.fromEntries(
        Object.entries(alarms(current)).map(([id, properties]) => [
          id,
          {
            Type: 'AWS::CloudWatch::Alarm',
            Properties: { ...properties, AlarmActions: [topic], OKActions: [topic] },
          },
        ]),
      ),
    },
    Outputs: {
      AlarmTopicArn: {
        Description: 'SNS topic of the imagegate alarms: subscribe the on-call address or chat integration',
        Value: topic,
      },
    },
  };
}

module.exports = { resources, alarms, settings, WEBHOOK_TIMEOUT_SECONDS, NEAR_TIMEOUT, OUTAGE_CLASSES };
