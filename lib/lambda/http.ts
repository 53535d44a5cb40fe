import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { AdmissionDecodeError } from '../admission/errors';
import type { Runtime } from '../runtime';
import { deadlineSignal, parseApiServerTimeout, reviewBudgetMs } from '../deadline';
import { answerAdmissionReview } from '../webhook';

const JSON_HEADERS = { 'content-type': 'application/json' };

/** The request fields the adapter reads (API Gateway HTTP API payload 2.0). */
export type AdmissionEvent = Pick<
  APIGatewayProxyEventV2,
  'body' | 'isBase64Encoded' | 'pathParameters' | 'queryStringParameters'
>;

/**
 * Maps an API Gateway HTTP API event to an AdmissionReview answer:
 * - 401 with an empty body for a wrong or missing cluster token (no detail, no review);
 * - 400 with `{"error": "..."}` for a body that is not a JSON AdmissionReview;
 * - 200 with the AdmissionReview otherwise, denials included.
 */
export async function handleAdmissionEvent(
  event: AdmissionEvent,
  runtime: Runtime,
  options: { remainingTimeMs?: number } = {},
): Promise<APIGatewayProxyStructuredResultV2> {
  const cluster = event.pathParameters?.cluster;
  if (runtime.tokens) {
    const token = event.pathParameters?.token;
    if (!cluster || !token) return unauthorized();
    let valid: boolean;
    try {
      valid = await runtime.tokens.verify(cluster, token);
    } catch (error) {
      // Without the token secret nobody can be authenticated; the API server applies its failurePolicy.
      runtime.log.error('cluster tokens unavailable', { cluster, error: (error as Error).message });
      return {
        statusCode: 503,
        headers: JSON_HEADERS,
        body: JSON.stringify({ error: 'service unavailable' }),
      };
    }
    if (!valid) {
      runtime.log.warn('request with a wrong cluster token refused', { cluster });
      return unauthorized();
    }
  }

  const text = event.isBase64Encoded
    ? Buffer.from(event.body ?? '', 'base64').toString('utf8')
    : (event.body ?? '');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    return badRequest(`request body is not JSON: ${(error as Error).message}`);
  }
  // The API server gives up after ?timeout= (default 10 s); answer by the failure policy before it.
  const timeoutMs = parseApiServerTimeout(event.queryStringParameters?.timeout);
  const deadline = deadlineSignal(reviewBudgetMs(timeoutMs, options.remainingTimeMs));
  try {
    const review = await answerAdmissionReview(body, runtime, { cluster, signal: deadline.signal });
    return { statusCode: 200, headers: JSON_HEADERS, body: JSON.stringify(review) };
  } catch (error) {
    if (error instanceof AdmissionDecodeError) return badRequest(error.message);
    throw error;
  } finally {
    deadline.clear();
  }
}

/** The request path with the token replaced, for logs. */
export function maskedPath(rawPath: string): string {
  return rawPath.replace(/^(\/admit\/[^/]+\/)[^/]+/, '$1****');
}

function unauthorized(): APIGatewayProxyStructuredResultV2 {
  return { statusCode: 401, body: '' };
}

function badRequest(message: string): APIGatewayProxyStructuredResultV2 {
  return { statusCode: 400, headers: JSON_HEADERS, body: JSON.stringify({ error: message }) };
}
