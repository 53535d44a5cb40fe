import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { AdmissionDecodeError } from '../admission/errors';
import { answerAdmissionReview, type WebhookDependencies } from '../webhook';

const JSON_HEADERS = { 'content-type': 'application/json' };

/**
 * Maps an API Gateway HTTP API event to an AdmissionReview answer: 200 with the review, or 400
 * with `{"error": "..."}` for a body that is not a JSON AdmissionReview.
 */
export async function handleAdmissionEvent(
  event: Pick<APIGatewayProxyEventV2, 'body' | 'isBase64Encoded'>,
  deps: WebhookDependencies,
  signal?: AbortSignal,
): Promise<APIGatewayProxyStructuredResultV2> {
  const text = event.isBase64Encoded
    ? Buffer.from(event.body ?? '', 'base64').toString('utf8')
    : (event.body ?? '');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    return badRequest(`request body is not JSON: ${(error as Error).message}`);
  }
  try {
    const review = await answerAdmissionReview(body, deps, signal);
    return { statusCode: 200, headers: JSON_HEADERS, body: JSON.stringify(review) };
  } catch (error) {
    if (error instanceof AdmissionDecodeError) return badRequest(error.message);
    throw error;
  }
}

function badRequest(message: string): APIGatewayProxyStructuredResultV2 {
  return { statusCode: 400, headers: JSON_HEADERS, body: JSON.stringify({ error: message }) };
}
