import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { AdmissionDecodeError } from '../admission/errors';
import type { TokenCheck } from '../auth/cluster-tokens';
import { deadlineSignal, parseApiServerTimeout, reviewBudgetMs } from '../deadline';
import { describeError } from '../errors';
import { answerAdmissionReview, type WebhookDependencies } from '../review/webhook';

const JSON_HEADERS = { 'content-type': 'application/json' };

/** What the adapter needs from the process (lib/runtime.ts builds it). */
export interface AdmissionHandlerDependencies extends WebhookDependencies {
  /** Checks a cluster's URL token; unset when no token secret is configured (local use). */
  readonly tokens: { verify(cluster: string, token: string): Promise<TokenCheck> } | undefined;
}

/** The request fields the adapter reads (API Gateway HTTP API payload 2.0). */
export type AdmissionEvent = Pick<
  APIGatewayProxyEventV2,
  'body' | 'isBase64Encoded' | 'pathParameters' | 'queryStringParameters'
>;

/**
 * Maps an API Gateway HTTP API event to an AdmissionReview answer:
 * - 401 with an empty body for a wrong or missing cluster token or an unknown cluster, alike
 *   (no detail, no review);
 * - 503 when the one shared token secret cannot be read;
 * - 400 with `{"error": "..."}` for a body that is not a JSON AdmissionReview, is larger than
 *   {@link MAX_BODY_BYTES} or nests deeper than {@link MAX_JSON_DEPTH};
 * - 200 with the AdmissionReview otherwise, denials included.
 */
export async function handleAdmissionEvent(
  event: AdmissionEvent,
  runtime: AdmissionHandlerDependencies,
  options: { remainingTimeMs?: number } = {},
): Promise<APIGatewayProxyStructuredResultV2> {
  const cluster = event.pathParameters?.cluster;
  if (runtime.tokens) {
    const token = event.pathParameters?.token;
    if (!cluster || !token) return unauthorized();
    let check: TokenCheck;
    try {
      check = await runtime.tokens.verify(cluster, token);
    } catch (error) {
      // Without the shared token secret nobody can be authenticated; the API server applies its failurePolicy.
      runtime.log.error('cluster tokens unavailable', { cluster, error: describeError(error) });
      return {
        statusCode: 503,
        headers: JSON_HEADERS,
        body: JSON.stringify({ error: 'service unavailable' }),
      };
    }
    if (!check.valid) {
      // The caller cannot tell an unknown cluster from a wrong token; the log says which it was.
      const details = {
        // A malformed name is not repeated: it is whatever the caller put in the URL.
        cluster: check.reason === 'malformed' ? '(not a cluster name)' : cluster,
        reason: check.reason,
        ...(check.error ? { error: check.error.message } : {}),
      };
      if (check.reason === 'secret-unavailable') {
        runtime.log.error('cluster token secret unavailable; request refused as with a wrong token', details);
      } else {
        runtime.log.warn('request with a wrong cluster token refused', details);
      }
      return unauthorized();
    }
  }

  const parsed = readRequestBody(event);
  if (!parsed.ok) return badRequest(parsed.error);
  const body = parsed.value;
  // The API server gives up after ?timeout= (default 10 s); answer by the failure policy before it.
  const timeoutMs = parseApiServerTimeout(event.queryStringParameters?.timeout);
  const budgetMs = reviewBudgetMs(timeoutMs, options.remainingTimeMs);
  // Passed down to every registry read, so that retries (lib/oci/retry.ts) never wait past it.
  const deadline = deadlineSignal(budgetMs);
  try {
    const review = await answerAdmissionReview(body, runtime, { cluster, deadline });
    return { statusCode: 200, headers: JSON_HEADERS, body: JSON.stringify(review) };
  } catch (error) {
    if (error instanceof AdmissionDecodeError) return badRequest(error.message);
    throw error;
  } finally {
    deadline.clear();
  }
}

/**
 * The largest request body read, after base64 decoding: 3 MiB. The API server refuses request
 * bodies over 3 MiB and etcd stores objects of at most 1.5 MiB by default, so an AdmissionReview
 * of any object a cluster can hold — an UPDATE carries the object and the old object — fits.
 */
export const MAX_BODY_BYTES = 3 * 1024 * 1024;
/**
 * The deepest JSON nesting read. A Pod in an AdmissionReview nests about 15 levels (managedFields
 * included); the limit keeps every recursive walk over the object (image extractors, patches,
 * error messages) far from the stack's end.
 */
export const MAX_JSON_DEPTH = 100;

/** The event's body as JSON, or the reason it is refused (HTTP 400). */
export function readRequestBody(
  event: Pick<AdmissionEvent, 'body' | 'isBase64Encoded'>,
): { ok: true; value: unknown } | { ok: false; error: string } {
  const raw = event.body ?? '';
  // Refuse before decoding: base64 text is 4/3 of the bytes it carries, UTF-16 text at least 1/1.
  const encodedLimit = event.isBase64Encoded ? Math.ceil(MAX_BODY_BYTES / 3) * 4 + 4 : MAX_BODY_BYTES;
  if (raw.length > encodedLimit) return { ok: false, error: tooLargeMessage() };
  const decoded = event.isBase64Encoded ? Buffer.from(raw, 'base64') : undefined;
  const size = decoded ? decoded.length : Buffer.byteLength(raw, 'utf8');
  if (size > MAX_BODY_BYTES) return { ok: false, error: tooLargeMessage() };
  const text = decoded ? decoded.toString('utf8') : raw;
  const depth = jsonNestingDepth(text, MAX_JSON_DEPTH);
  if (depth > MAX_JSON_DEPTH) {
    return { ok: false, error: `request body nests deeper than ${MAX_JSON_DEPTH} levels` };
  }
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (error) {
    return { ok: false, error: `request body is not JSON: ${describeError(error)}` };
  }
}

function tooLargeMessage(): string {
  return `request body is larger than ${MAX_BODY_BYTES} bytes`;
}

/**
 * The deepest nesting of arrays and objects in JSON text (strings skipped), scanning no further
 * than the first point deeper than `stopAbove`. Malformed text gets some number; JSON.parse then
 * refuses it.
 */
export function jsonNestingDepth(text: string, stopAbove = Infinity): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let index = 0; index < text.length; index++) {
    const char = text.charCodeAt(index);
    if (inString) {
      if (char === 0x5c /* \ */) index++;
      else if (char === 0x22 /* " */) inString = false;
    } else if (char === 0x22) {
      inString = true;
    } else if (char === 0x7b /* { */ || char === 0x5b /* [ */) {
      depth++;
      if (depth > deepest) {
        deepest = depth;
        if (deepest > stopAbove) return deepest;
      }
    } else if (char === 0x7d /* } */ || char === 0x5d /* ] */) {
      depth--;
    }
  }
  return deepest;
}

function unauthorized(): APIGatewayProxyStructuredResultV2 {
  return { statusCode: 401, body: '' };
}

function badRequest(message: string): APIGatewayProxyStructuredResultV2 {
  return { statusCode: 400, headers: JSON_HEADERS, body: JSON.stringify({ error: message }) };
}
