import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP, isIPv6 } from 'node:net';
import { ExpiringCache } from '../cache/expiring-cache';
import { RegistryContentError, RegistryError } from '../model/registry-errors';
import { LOOPBACK_LABEL, specialAddressRange } from './ip-ranges';
import type { RegistryTransport, TransportRequest, TransportResponse } from '../ports';
import type { Resolver } from '../ports';

/**
 * SSRF guard for registry requests. Image references come from cluster users, so without it anyone
 * allowed to create a Pod could make imagegate fetch from the cloud metadata service
 * (169.254.169.254, fd00:ec2::254), the Lambda runtime API on loopback, or any host of the
 * private network. Before every request — each redirect hop and token-service call goes through
 * the transport too — the host is resolved and refused when any of its addresses is in a
 * special-purpose range, unless the registry is explicitly allowed by configuration; the
 * request is then pinned to the address that was checked, so a second DNS answer (rebinding)
 * cannot swap it.
 */

/** `getaddrinfo` through node:dns, every address, in the resolver's order. */
export const systemResolver: Resolver = async (hostname) =>
  (await dnsLookup(hostname, { all: true, verbatim: true })).map((entry) => entry.address);

/** `host[:port]` of a registry list entry, for comparison with a request URL. */
interface AllowedHost {
  readonly hostname: string;
  readonly port: number | undefined;
}

export interface AddressGuardOptions {
  /**
   * Registries (host[:port], as in an image reference) that may resolve anywhere: the insecure
   * registries and IMAGEGATE_ALLOWED_PRIVATE_REGISTRIES. A host without a port is allowed on the
   * scheme's default port only.
   */
  readonly allowed?: Iterable<string>;
  readonly resolve?: Resolver;
  /** How long a checked answer is reused (and the connection pinned to it). Default 30 s. */
  readonly cacheMs?: number;
  readonly now?: () => number;
}

const DEFAULT_CACHE_MS = 30_000;
/** Most host names whose checked addresses are remembered (least recently used go first). */
export const MAX_CACHED_HOSTS = 1_000;
/** Most bytes of remembered host names and addresses (as UTF-16). */
export const MAX_CACHED_HOST_BYTES = 1024 * 1024;
const ALLOW_SETTING = 'IMAGEGATE_ALLOWED_PRIVATE_REGISTRIES';

/**
 * Decides where a registry request may connect: nowhere (throws "not trusted"), anywhere (an
 * allowed registry: `undefined`), or only to the returned addresses, each of which was checked.
 */
export class RegistryAddressGuard {
  private readonly allowed: readonly AllowedHost[];
  private readonly resolve: Resolver;
  private readonly cacheMs: number;
  private readonly now: () => number;
  private readonly answers: ExpiringCache<readonly string[]>;

  constructor(options: AddressGuardOptions = {}) {
    this.allowed = [...(options.allowed ?? [])].map(parseAllowed);
    this.resolve = options.resolve ?? systemResolver;
    this.cacheMs = options.cacheMs ?? DEFAULT_CACHE_MS;
    this.now = options.now ?? Date.now;
    this.answers = new ExpiringCache({
      maxEntries: MAX_CACHED_HOSTS,
      maxBytes: MAX_CACHED_HOST_BYTES,
      size: (addresses, host) => 2 * (host.length + addresses.join().length),
      now: this.now,
    });
  }

  /** Host names whose checked addresses are remembered now. */
  get cachedHosts(): number {
    return this.answers.size;
  }

  /** True when configuration allows `url`'s host and port to resolve to any address. */
  isAllowed(url: URL): boolean {
    const port = effectivePort(url);
    return this.allowed.some(
      (entry) =>
        entry.hostname === url.hostname && (entry.port === undefined ? url.port === '' : entry.port === port),
    );
  }

  /**
   * The addresses `url` may be fetched from (IPv4 first), or `undefined` for an allowed
   * registry. Throws {@link RegistryContentError} `ADDRESS_REFUSED` for a refused one, and
   * {@link RegistryError} when the name does not resolve.
   */
  async check(url: URL, signal?: AbortSignal): Promise<readonly string[] | undefined> {
    const host = url.host || url.href;
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw refused(host, `only http and https are fetched, not ${url.protocol.replace(/:$/, '')}`);
    }
    if (this.isAllowed(url)) return undefined;

    const name = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    if (isIP(name)) return [approve(host, name)];
    const lower = name.toLowerCase().replace(/\.$/, '');
    // RFC 6761: localhost and *.localhost are loopback whatever a resolver says.
    if (lower === 'localhost' || lower.endsWith('.localhost')) {
      throw refused(host, `resolves to ${LOOPBACK_LABEL} (${lower})${allowHint(host)}`);
    }

    const cached = this.answers.get(lower);
    if (cached) return cached;
    const resolved = await resolveWithin(this.resolve, lower, host, signal);
    if (resolved.length === 0) {
      throw new RegistryError('REGISTRY_UNREACHABLE', host, `registry ${host} unreachable (ENOTFOUND)`);
    }
    // Every address must pass: a connection could otherwise be steered to the one that does not.
    const addresses = resolved.map((address) => approve(host, address));
    addresses.sort((a, b) => Number(isIPv6(a)) - Number(isIPv6(b)));
    this.answers.set(lower, addresses, this.cacheMs);
    return addresses;
  }
}

/**
 * A transport that asks a {@link RegistryAddressGuard} before every request and pins the
 * request to a checked address. When that address cannot be connected to at all, the next
 * checked address of the same host is tried (at most three).
 */
export class GuardedTransport implements RegistryTransport {
  constructor(
    private readonly inner: RegistryTransport,
    private readonly guard: RegistryAddressGuard,
  ) {}

  async send(request: TransportRequest): Promise<TransportResponse> {
    const addresses = await this.guard.check(request.url, request.signal);
    if (!addresses) return this.inner.send(request);
    const tries = addresses.slice(0, 3);
    for (let index = 0; ; index++) {
      try {
        return await this.inner.send({ ...request, connectAddress: tries[index] });
      } catch (error) {
        if (index + 1 >= tries.length || request.signal?.aborted || !isConnectFailure(error)) throw error;
      }
    }
  }
}

const CONNECT_FAILURES = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'EAFNOSUPPORT',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** A failure to open the connection at all (nothing was sent), so another address may be tried. */
function isConnectFailure(error: unknown): boolean {
  if (!(error instanceof RegistryError)) return false;
  const code = (error.cause as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && CONNECT_FAILURES.has(code);
}

function approve(host: string, address: string): string {
  const range = specialAddressRange(address);
  if (range === undefined) return address;
  throw refused(host, `resolves to ${range} (${address})${allowHint(host)}`);
}

function refused(host: string, reason: string): RegistryContentError {
  return new RegistryContentError('ADDRESS_REFUSED', host, `registry ${host} refused: ${reason}`);
}

function allowHint(host: string): string {
  return `; allow it with ${ALLOW_SETTING}=${host}`;
}

async function resolveWithin(
  resolve: Resolver,
  name: string,
  host: string,
  signal: AbortSignal | undefined,
): Promise<readonly string[]> {
  const timeout = () =>
    new RegistryError('REGISTRY_TIMEOUT', host, `registry ${host} did not answer in time`);
  if (signal?.aborted) throw timeout();
  let onAbort: (() => void) | undefined;
  try {
    return await Promise.race([
      resolve(name),
      new Promise<never>((_resolve, reject) => {
        onAbort = () => reject(timeout());
        signal?.addEventListener('abort', onAbort, { once: true });
      }),
    ]);
  } catch (error) {
    if (error instanceof RegistryError) throw error;
    const code = (error as { code?: unknown }).code;
    const reason = typeof code === 'string' ? code : error instanceof Error ? error.message : String(error);
    throw new RegistryError('REGISTRY_UNREACHABLE', host, `registry ${host} unreachable (${reason})`, {
      cause: error,
    });
  } finally {
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}

function parseAllowed(entry: string): AllowedHost {
  const match = /^(.*?)(?::(\d{1,5}))?$/.exec(entry.trim());
  const name = match?.[1] ?? entry;
  let hostname: string;
  try {
    // The URL parser's canonical form, as in the request URLs (lower case, [::1], 127.0.0.1).
    hostname = new URL(`http://${name}`).hostname;
  } catch {
    hostname = name.toLowerCase();
  }
  return { hostname, port: match?.[2] === undefined ? undefined : Number(match[2]) };
}

function effectivePort(url: URL): number {
  if (url.port) return Number(url.port);
  return url.protocol === 'https:' ? 443 : 80;
}
