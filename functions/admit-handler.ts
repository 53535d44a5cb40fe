import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import middy, { type MiddyfiedHandler } from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type * as AwsAdaptersModule from '../lib/aws/adapters';
import { readConfig } from '../lib/config';
import { handleAdmissionEvent } from '../lib/lambda/http';
import { DEFAULT_SERVICE_NAME, METRICS_NAMESPACE } from '../lib/observability/catalogue';
import { createObservability } from '../lib/observability/powertools';
import type { Clock } from '../lib/ports';
import { createRuntime } from '../lib/runtime';

/** `POST /admit/{cluster}/{token}` and `POST /admit`: an AdmissionReview in, an AdmissionReview out. */
export type AdmitHandler = MiddyfiedHandler<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>;

/**
 * Builds the admission handler from `env` (process.env in Lambda): configuration, logger, metrics
 * and the runtime, all at once, so that functions/admit.ts does it during the cold start.
 * `options.clock` replaces the system clock of every cache and token expiry (tests).
 */
export function createHandler(env: NodeJS.ProcessEnv, options: { clock?: Clock } = {}): AdmitHandler {
  const initStarted = performance.now();
  const config = readConfig(env);
  // The `service` of every log line and metric: the function's own name (`imagegate-<stage>-admit`)
  // in Lambda, so stages sharing an account keep their metrics apart; infra/dashboard.cjs and
  // infra/alarms.cjs select it. POWERTOOLS_SERVICE_NAME overrides it, as in every Powertools function.
  const serviceName = env.POWERTOOLS_SERVICE_NAME || env.AWS_LAMBDA_FUNCTION_NAME || DEFAULT_SERVICE_NAME;
  const logger = new Logger({ serviceName, logLevel: config.logLevel });
  // Decision records are the audit trail: written at INFO whatever IMAGEGATE_LOG_LEVEL says.
  const records = logger.createChild({ logLevel: 'INFO' });
  const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName, logger });
  // Decision records, policy-load records and EMF metrics (lib/observability), flushed per invocation.
  const observability = createObservability({
    records,
    metrics,
    cacheStats: () => runtime.cache?.stats,
    coldStart: () => ({
      initDurationMs: Math.round(initDurationMs * 10) / 10,
      policySource: config.policies.kind,
      clusterTokens: config.clusterTokenSecret !== undefined,
      registryCredentialSecrets: config.registryCredentialSecrets.length,
    }),
  });
  // The AWS SDK is loaded only when the configuration uses S3, Secrets Manager or ECR: a lazy
  // require keeps it out of module initialisation for everything else.
  const runtime = createRuntime(config, logger, {
    aws: () => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const adapters = require('../lib/aws/adapters') as typeof AwsAdaptersModule;
      return adapters.createAwsAdapters();
    },
    observe: observability.observer,
    clock: options.clock,
  });
  if (!runtime.tokens) logger.warn('IMAGEGATE_CLUSTER_TOKENS is not set: requests are not authenticated');
  const initDurationMs = performance.now() - initStarted;

  return middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
    .use(injectLambdaContext([logger, records]))
    .use(observability.middleware())
    .handler((event, context) =>
      handleAdmissionEvent(event, runtime, { remainingTimeMs: context.getRemainingTimeInMillis?.() }),
    );
}
