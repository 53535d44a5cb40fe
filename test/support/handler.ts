/** Loads functions/admit.ts as a Lambda cold start would, and builds API Gateway HTTP API events. */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type * as AdmitHandlerModule from '../../functions/admit-handler';
import type { Clock } from '../../lib/ports';

export type Handler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

/**
 * A fresh copy of the handler module with `env` in process.env while it initialises. The AWS SDK
 * reads some settings lazily, so callers that configure AWS endpoints keep `env` in place
 * (`restore: false`) until their tests end. With `clock`, the handler is built as functions/admit.ts
 * builds it, with that clock in place of the system clock (caches and tokens expire by it).
 */
export function loadHandler(
  env: Record<string, string>,
  options: { restore?: boolean; clock?: Clock } = {},
): Handler {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    let handler: Handler | undefined;
    jest.isolateModules(() => {
      const { clock } = options;
      handler = clock
        ? jest
            .requireActual<typeof AdmitHandlerModule>('../../functions/admit-handler')
            .createHandler(process.env, { clock })
        : jest.requireActual<{ handler: Handler }>('../../functions/admit').handler;
    });
    return handler!;
  } finally {
    if (options.restore ?? true) process.env = saved;
  }
}

/** A `POST /admit` (or `/admit/{cluster}/{token}`) event. */
export function httpEvent(
  body: string,
  options: { isBase64Encoded?: boolean; cluster?: string; token?: string } = {},
): APIGatewayProxyEventV2 {
  const { cluster, token } = options;
  const path = cluster === undefined ? '/admit' : `/admit/${cluster}/${token ?? ''}`;
  return {
    version: '2.0',
    routeKey: cluster === undefined ? 'POST /admit' : 'POST /admit/{cluster}/{token}',
    rawPath: path,
    rawQueryString: '',
    headers: { 'content-type': 'application/json' },
    requestContext: {} as APIGatewayProxyEventV2['requestContext'],
    ...(cluster === undefined
      ? {}
      : { pathParameters: { cluster, ...(token === undefined ? {} : { token }) } }),
    body,
    isBase64Encoded: options.isBase64Encoded ?? false,
  };
}

export const lambdaContext = {} as Context;
