import { Logger } from '@aws-lambda-powertools/logger';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type * as AwsAdaptersModule from '../lib/aws/adapters';
import { readConfig } from '../lib/config';
import { handleAdmissionEvent } from '../lib/lambda/http';
import { createRuntime } from '../lib/runtime';

const config = readConfig(process.env);
const logger = new Logger({ serviceName: 'imagegate', logLevel: config.logLevel });
// The AWS SDK is loaded only when the configuration uses S3, Secrets Manager or ECR: a lazy
// require keeps it out of module initialisation for everything else.
const runtime = createRuntime(config, logger, {
  aws: () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const adapters = require('../lib/aws/adapters') as typeof AwsAdaptersModule;
    return adapters.createAwsAdapters();
  },
});
if (!runtime.tokens) logger.warn('IMAGEGATE_CLUSTER_TOKENS is not set: requests are not authenticated');

/** `POST /admit/{cluster}/{token}` and `POST /admit`: an AdmissionReview in, an AdmissionReview out. */
export const handler = middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>().handler(
  (event, context) =>
    handleAdmissionEvent(event, runtime, { remainingTimeMs: context.getRemainingTimeInMillis?.() }),
);
