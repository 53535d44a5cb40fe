import { RegistryError } from '../model/registry-errors';
import type { RegistryTransport, TransportRequest, TransportResponse } from '../ports';

const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);
/** Redirects followed after the first request. */
export const MAX_REDIRECTS = 3;

/**
 * Follows a registry's redirects (blob storage, CDNs) for GET requests, at most
 * {@link MAX_REDIRECTS} hops, http and https only. Each hop carries only the Authorization
 * earned from its own origin (`request.authorizations`, or the request's own header for its
 * starting origin alone): the registry's token never reaches a redirect target, and a redirect
 * target's never reaches the registry. The answer names the URL that gave it.
 */
export class RedirectingTransport implements RegistryTransport {
  constructor(private readonly inner: RegistryTransport) {}

  async send(request: TransportRequest): Promise<TransportResponse> {
    if (request.method !== 'GET') return this.inner.send(request);
    const start = request.url;
    const { authorization: own, ...headers } = request.headers;
    const authorizations = request.authorizations ?? new Map(own === undefined ? [] : [[start.origin, own]]);
    let url = start;
    for (let hop = 0; ; hop++) {
      const authorization = authorizations.get(url.origin);
      const response = await this.inner.send({
        ...request,
        url,
        headers: authorization ? { ...headers, authorization } : headers,
      });
      const location = response.headers.location;
      if (!REDIRECT_STATUSES.has(response.status) || !location) return { ...response, url };
      url = nextHop(start, url, location, hop, response.status);
    }
  }
}

/** The URL a redirect points to, or the reason it is not followed. */
function nextHop(start: URL, from: URL, location: string, hop: number, status: number): URL {
  if (hop >= MAX_REDIRECTS) {
    throw new RegistryError('REGISTRY_HTTP', start.host, `registry ${start.host} redirected too many times`, {
      status,
    });
  }
  let next: URL;
  try {
    next = new URL(location, from);
  } catch (error) {
    throw new RegistryError(
      'REGISTRY_HTTP',
      start.host,
      `registry ${start.host} redirected to an invalid URL`,
      {
        cause: error,
        status,
      },
    );
  }
  if (next.protocol !== 'https:' && next.protocol !== 'http:') {
    throw new RegistryError(
      'REGISTRY_HTTP',
      start.host,
      `registry ${start.host} redirected to ${next.protocol}`,
    );
  }
  return next;
}
