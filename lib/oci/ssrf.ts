import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP, isIPv4, isIPv6 } from 'node:net';
import { ExpiringCache } from '../cache/expiring-cache';
import { RegistryContentError, RegistryError } from './errors';
import type { RegistryTransport, TransportRequest, TransportResponse } from './transport';

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

/** Resolves a host name to its IP addresses (port: the system resolver; tests inject their own). */
export type Resolver = (hostname: string) => Promise<readonly string[]>;

/** `getaddrinfo` through node:dns, every address, in the resolver's order. */
export const systemResolver: Resolver = async (hostname) =>
  (await dnsLookup(hostname, { all: true, verbatim: true })).map((entry) => entry.address);

const LOOPBACK = 'a loopback address';
const LINK_LOCAL = 'a link-local address';
const PRIVATE = 'a private address';
const UNSPECIFIED = 'an unspecified address';
const MULTICAST = 'a multicast address';
const SHARED = 'a shared (carrier-grade NAT) address';
const DOCUMENTATION = 'a documentation address';
const BENCHMARKING = 'a benchmarking address';
const RESERVED = 'a reserved address';

type Range4 = readonly [base: string, prefix: number, label: string];
/** A label, or `embedded-ipv4` for ranges judged by the IPv4 address they carry. */
type Range6 = readonly [base: string, prefix: number, label: string];

/** IANA special-purpose IPv4 ranges (RFC 6890 and successors) that no public registry lives in. */
const IPV4_RANGES: readonly Range4[] = [
  ['0.0.0.0', 8, UNSPECIFIED],
  ['10.0.0.0', 8, PRIVATE],
  ['100.64.0.0', 10, SHARED],
  ['127.0.0.0', 8, LOOPBACK],
  ['169.254.0.0', 16, LINK_LOCAL],
  ['172.16.0.0', 12, PRIVATE],
  ['192.0.0.0', 24, RESERVED],
  ['192.0.2.0', 24, DOCUMENTATION],
  ['192.88.99.0', 24, RESERVED],
  ['192.168.0.0', 16, PRIVATE],
  ['198.18.0.0', 15, BENCHMARKING],
  ['198.51.100.0', 24, DOCUMENTATION],
  ['203.0.113.0', 24, DOCUMENTATION],
  ['224.0.0.0', 4, MULTICAST],
  ['240.0.0.0', 4, RESERVED],
];

/**
 * Special-purpose IPv6 ranges, most specific first. Ranges that carry an IPv4 address
 * (IPv4-mapped, NAT64, 6to4) are judged by that address. Anything outside 2000::/3 (global
 * unicast) is refused as reserved.
 */
const IPV6_RANGES: readonly Range6[] = [
  ['::', 128, UNSPECIFIED],
  ['::1', 128, LOOPBACK],
  ['::ffff:0:0', 96, 'embedded-ipv4'],
  ['64:ff9b::', 96, 'embedded-ipv4'],
  ['64:ff9b:1::', 48, PRIVATE],
  ['100::', 64, RESERVED],
  ['2001:db8::', 32, DOCUMENTATION],
  ['2001::', 23, RESERVED],
  ['2002::', 16, 'embedded-ipv4'],
  ['3fff::', 20, DOCUMENTATION],
  ['fd00:ec2::', 32, 'an EC2 instance metadata address'],
  ['fc00::', 7, PRIVATE],
  ['fe80::', 10, LINK_LOCAL],
  ['fec0::', 10, PRIVATE],
  ['ff00::', 8, MULTICAST],
];

/**
 * The kind of special-purpose address `address` is (e.g. "a loopback address"), or `undefined`
 * for a globally routable unicast address. Text that is not an IP address is reported as such.
 */
export function specialAddressRange(address: string): string | undefined {
  const v4 = parseIPv4(address);
  if (v4 !== undefined) return rangeOf4(v4);
  const v6 = parseIPv6(address);
  if (!v6) return 'not an IP address';
  for (const [base, prefix, label] of IPV6_RANGES) {
    if (!inPrefix6(v6, parseIPv6(base)!, prefix)) continue;
    if (label !== 'embedded-ipv4') return label;
    // ::ffff:a.b.c.d and 64:ff9b::a.b.c.d carry it in the last 32 bits, 2002:aabb:ccdd:: in bits 16–47.
    const embedded = base === '2002::' ? v6[1]! * 0x10000 + v6[2]! : v6[6]! * 0x10000 + v6[7]!;
    return rangeOf4(embedded);
  }
  return (v6[0]! & 0xe000) === 0x2000 ? undefined : RESERVED;
}

function rangeOf4(value: number): string | undefined {
  for (const [base, prefix, label] of IPV4_RANGES) {
    const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
    if ((value & mask) >>> 0 === (parseIPv4(base)! & mask) >>> 0) return label;
  }
  return undefined;
}

/** A dotted-quad IPv4 address as a 32-bit number. */
function parseIPv4(text: string): number | undefined {
  if (!isIPv4(text)) return undefined;
  return text.split('.').reduce((value, part) => value * 256 + Number(part), 0);
}

/** An IPv6 address (brackets and zone allowed) as eight 16-bit groups. */
function parseIPv6(text: string): number[] | undefined {
  let address = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const zone = address.indexOf('%');
  if (zone !== -1) address = address.slice(0, zone);
  if (!isIPv6(address)) return undefined;
  const lastColon = address.lastIndexOf(':');
  const last = address.slice(lastColon + 1);
  if (last.includes('.')) {
    const v4 = parseIPv4(last);
    if (v4 === undefined) return undefined;
    address = `${address.slice(0, lastColon + 1)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const [head = '', tail] = address.split('::');
  const first = head ? head.split(':') : [];
  const rest = tail === undefined ? undefined : tail ? tail.split(':') : [];
  const groups = rest
    ? [...first, ...Array<string>(8 - first.length - rest.length).fill('0'), ...rest]
    : first;
  return groups.length === 8 ? groups.map((group) => parseInt(group, 16)) : undefined;
}

function inPrefix6(address: readonly number[], base: readonly number[], prefix: number): boolean {
  for (let group = 0; group < 8; group++) {
    const bits = Math.min(16, Math.max(0, prefix - group * 16));
    if (bits === 0) return true;
    const mask = (0xffff << (16 - bits)) & 0xffff;
    if ((address[group]! & mask) !== (base[group]! & mask)) return false;
  }
  return true;
}

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
      throw refused(host, `resolves to ${LOOPBACK} (${lower})${allowHint(host)}`);
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
