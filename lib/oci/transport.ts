import { Agent, errors as undiciErrors, request } from 'undici';
import { RegistryContentError, RegistryError } from './errors';

/** One HTTP exchange with a registry; the body is read whole, up to `maxBytes`. */
export interface TransportRequest {
  readonly method: 'GET' | 'HEAD' | 'POST';
  readonly url: URL;
  readonly headers: Readonly<Record<string, string>>;
  readonly maxBytes: number;
  readonly signal?: AbortSignal | undefined;
  /** Request body (only the OAuth2 token POST has one). */
  readonly body?: string;
}

export interface TransportResponse {
  readonly status: number;
  /** Header names in lower case; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
}

/** Port between the registry protocol logic and the network. */
export interface RegistryTransport {
  send(request: TransportRequest): Promise<TransportResponse>;
}

const NETWORK_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);
const TIMEOUT_ERROR_CODES = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ETIMEDOUT',
]);

/**
 * Registry transport over undici with one keep-alive connection pool per host, shared by every
 * request of a Lambda instance.
 */
export class UndiciTransport implements RegistryTransport {
  private readonly agent: Agent;

  constructor(options: { connectTimeoutMs?: number; requestTimeoutMs?: number } = {}) {
    const requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.agent = new Agent({
      connect: { timeout: options.connectTimeoutMs ?? 5_000 },
      headersTimeout: requestTimeoutMs,
      bodyTimeout: requestTimeoutMs,
      keepAliveTimeout: 30_000,
    });
  }

  async send(req: TransportRequest): Promise<TransportResponse> {
    const host = req.url.host;
    try {
      const response = await request(req.url, {
        method: req.method,
        headers: req.headers,
        body: req.body,
        signal: req.signal,
        dispatcher: this.agent,
      });
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(response.headers)) {
        if (value !== undefined)
          headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
      }
      const declared = Number(headers['content-length']);
      if (Number.isFinite(declared) && declared > req.maxBytes) {
        response.body.destroy();
        throw tooLarge(host, req);
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of response.body) {
        const buffer = chunk as Buffer;
        size += buffer.length;
        if (size > req.maxBytes) {
          response.body.destroy();
          throw tooLarge(host, req);
        }
        chunks.push(buffer);
      }
      return { status: response.statusCode, headers, body: Buffer.concat(chunks) };
    } catch (error) {
      throw classifyNetworkError(error, host, req.signal);
    }
  }

  /** Closes pooled connections (tests, CLI exit). */
  async close(): Promise<void> {
    await this.agent.close();
  }
}

function tooLarge(host: string, req: TransportRequest): RegistryContentError {
  return new RegistryContentError(
    'TOO_LARGE',
    host,
    `registry ${host} sent more than ${req.maxBytes} bytes for ${req.url.pathname}`,
  );
}

function classifyNetworkError(error: unknown, host: string, signal: AbortSignal | undefined): Error {
  if (error instanceof RegistryContentError || error instanceof RegistryError) return error;
  const code = (error as { code?: unknown }).code;
  if (signal?.aborted || error instanceof undiciErrors.RequestAbortedError) {
    return new RegistryError('REGISTRY_TIMEOUT', host, `registry ${host} did not answer in time`, {
      cause: error,
    });
  }
  if (typeof code === 'string' && TIMEOUT_ERROR_CODES.has(code)) {
    return new RegistryError('REGISTRY_TIMEOUT', host, `registry ${host} timed out (${code})`, {
      cause: error,
    });
  }
  const reason = typeof code === 'string' && NETWORK_ERROR_CODES.has(code) ? code : describe(error);
  return new RegistryError('REGISTRY_UNREACHABLE', host, `registry ${host} unreachable (${reason})`, {
    cause: error,
  });
}

function describe(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown } }).cause;
  if (cause && typeof cause.code === 'string') return cause.code;
  return error instanceof Error ? error.message : String(error);
}
