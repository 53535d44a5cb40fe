import { Logger } from '@aws-lambda-powertools/logger';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { readConfig } from '../lib/config';
import { handleAdmissionEvent } from '../lib/lambda/http';
import { createDependencies } from '../lib/runtime';

const config = readConfig(process.env);
const logger = new Logger({ serviceName: 'imagegate', logLevel: config.logLevel });
const dependencies = createDependencies(config, logger);

/** `POST /admit`: an AdmissionReview in, an AdmissionReview (or a 400) out. */
export const handler = middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>().handler((event) =>
  handleAdmissionEvent(event, dependencies),
);
