import { isIPv6 } from 'node:net';
import { Agent, errors as undiciErrors, request, type Dispatcher } from 'undici';
import { registryTimeout } from '../deadline';
import { BODY_BYTES_IN_FLIGHT, ByteSemaphore, ResourceLimitError } from '../model/byte-budget';
import { RegistryContentError, RegistryError } from '../model/registry-errors';
import type { RegistryTransport, TransportRequest, TransportResponse } from '../ports';

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
 * request of a Lambda instance. Bodies in flight are bounded by construction: each request
 * reserves its `maxBytes` from `bodyBytesInFlight` (default {@link BODY_BYTES_IN_FLIGHT}) before
 * it is sent and gives it back once its body is read. Each body is charged to the request's
 * `budget`, if any: whole when its length is announced, before it is read, chunk by chunk
 * otherwise; the read stops when the budget is spent.
 */
export class UndiciTransport implements RegistryTransport {
  private readonly agent: Agent;
  private readonly inFlight: ByteSemaphore;

  constructor(
    options: {
      connectTimeoutMs?: number;
      requestTimeoutMs?: number;
      /** Extra trusted CA certificates (PEM) for registries with a private CA; default: Node's. */
      ca?: string | readonly string[];
      /** Most body bytes (reserved as each request's `maxBytes`) in flight at once. */
      bodyBytesInFlight?: number;
    } = {},
  ) {
    this.inFlight = new ByteSemaphore(options.bodyBytesInFlight ?? BODY_BYTES_IN_FLIGHT);
    const requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.agent = new Agent({
      connect: {
        timeout: options.connectTimeoutMs ?? 5_000,
        ...(options.ca ? { ca: typeof options.ca === 'string' ? options.ca : [...options.ca] } : {}),
      },
      headersTimeout: requestTimeoutMs,
      bodyTimeout: requestTimeoutMs,
      keepAliveTimeout: 30_000,
    });
  }

  async send(req: TransportRequest): Promise<TransportResponse> {
    const host = req.url.host;
    req.budget?.check(host);
    const release = await this.inFlight.acquire(req.maxBytes, req.signal, () => registryTimeout(host));
    try {
      // The budget may have been spent by the review's other reads while this one waited.
      req.budget?.check(host);
      return await this.exchange(req, host);
    } finally {
      release();
    }
  }

  /** Bytes reserved by requests in flight now (tests, benchmark). */
  get bodyBytesReserved(): number {
    return this.inFlight.inUse;
  }

  private async exchange(req: TransportRequest, host: string): Promise<TransportResponse> {
    const { budget } = req;
    let target = req.url;
    let requestHeaders = req.headers;
    if (req.connectAddress) {
      // Pinned: the URL names the checked address, the Host header (and so undici's TLS server
      // name) the registry.
      target = new URL(req.url);
      target.hostname = isIPv6(req.connectAddress) ? `[${req.connectAddress}]` : req.connectAddress;
      requestHeaders = { ...req.headers, host };
    }
    let response: Dispatcher.ResponseData;
    try {
      response = await request(target, {
        method: req.method,
        headers: requestHeaders,
        body: req.body,
        signal: req.signal,
        dispatcher: this.agent,
      });
    } catch (error) {
      throw classifyNetworkError(error, host, req.signal);
    }
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(response.headers)) {
      if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
    }
    const declared = Number(headers['content-length']);
    if (Number.isFinite(declared) && declared > req.maxBytes) {
      discard(response.body);
      throw tooLarge(host, req);
    }
    const announced = Number.isFinite(declared) && req.method !== 'HEAD' ? declared : undefined;
    // An announced body is charged whole before it is read (so concurrent reads of one review
    // cannot together overdraw it); a chunked one chunk by chunk.
    try {
      if (announced !== undefined) budget?.charge(announced, host);
    } catch (error) {
      discard(response.body);
      throw error;
    }
    // An announced length is read into one buffer; a chunked body is joined at the end.
    const whole = announced !== undefined ? Buffer.allocUnsafe(announced) : undefined;
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of response.body) {
        const buffer = chunk as Buffer;
        if (size + buffer.length > req.maxBytes) {
          response.body.destroy();
          throw tooLarge(host, req);
        }
        if (announced === undefined) budget?.charge(buffer.length, host);
        if (whole && size + buffer.length <= whole.length) buffer.copy(whole, size);
        else chunks.push(buffer);
        size += buffer.length;
      }
    } catch (error) {
      if (error instanceof ResourceLimitError) response.body.destroy();
      if (error instanceof RegistryContentError || error instanceof ResourceLimitError) throw error;
      const classified = classifyNetworkError(error, host, req.signal);
      // A success whose body stops short of what was announced (or of its chunked framing) is
      // content we did not get whole: not trusted. Running out of time stays "could not check".
      if (classified.code === 'REGISTRY_TIMEOUT' || response.statusCode < 200 || response.statusCode > 299) {
        throw classified;
      }
      throw truncated(host, req, size, declared, error);
    }
    if (req.method !== 'HEAD' && Number.isFinite(declared) && size !== declared) {
      throw truncated(host, req, size, declared, undefined);
    }
    return { status: response.statusCode, headers, body: whole ?? Buffer.concat(chunks) };
  }

  /** Closes pooled connections (tests, CLI exit). */
  async close(): Promise<void> {
    await this.agent.close();
  }
}

/** Drops a body that will not be read; the abort it causes is nobody's error. */
function discard(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => undefined);
  body.destroy();
}

function tooLarge(host: string, req: TransportRequest): RegistryContentError {
  return new RegistryContentError(
    'TOO_LARGE',
    host,
    `registry ${host} sent more than ${req.maxBytes} bytes for ${req.url.pathname}`,
  );
}

function truncated(
  host: string,
  req: TransportRequest,
  size: number,
  declared: number,
  cause: unknown,
): RegistryContentError {
  const of = Number.isFinite(declared) ? ` of ${declared}` : '';
  return new RegistryContentError(
    'TRUNCATED',
    host,
    `registry ${host} cut the body of ${req.url.pathname} short (${size}${of} bytes)`,
    { cause },
  );
}

function classifyNetworkError(
  error: unknown,
  host: string,
  signal: AbortSignal | undefined,
): RegistryError | RegistryContentError {
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
