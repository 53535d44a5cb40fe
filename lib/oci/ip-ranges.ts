import { BlockList, isIPv4, isIPv6 } from 'node:net';

/**
 * Which special-purpose range an IP address is in (pure). The SSRF guard (address-guard.ts)
 * refuses registry hosts that resolve into any of them.
 */

const LOOPBACK = 'a loopback address';
const LINK_LOCAL = 'a link-local address';
const PRIVATE = 'a private address';
const UNSPECIFIED = 'an unspecified address';
const MULTICAST = 'a multicast address';
const SHARED = 'a shared (carrier-grade NAT) address';
const DOCUMENTATION = 'a documentation address';
const BENCHMARKING = 'a benchmarking address';
const RESERVED = 'a reserved address';
const EC2_METADATA = 'an EC2 instance metadata address';

/** The label a loopback address gets, also for `localhost` (RFC 6761). */
export const LOOPBACK_LABEL = LOOPBACK;

type Range = readonly [base: string, prefix: number, label: string];

/** IANA special-purpose IPv4 ranges (RFC 6890 and successors) that no public registry lives in. */
const IPV4_RANGES: readonly Range[] = [
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
 * Special-purpose IPv6 ranges. A label's first range decides the order labels are tried in, so
 * the EC2 metadata range comes before the private range that contains it. Anything outside
 * 2000::/3 (global unicast) is refused as reserved.
 */
const IPV6_RANGES: readonly Range[] = [
  ['fd00:ec2::', 32, EC2_METADATA],
  ['::', 128, UNSPECIFIED],
  ['::1', 128, LOOPBACK],
  ['64:ff9b:1::', 48, PRIVATE],
  ['100::', 64, RESERVED],
  ['2001:db8::', 32, DOCUMENTATION],
  ['2001::', 23, RESERVED],
  ['3fff::', 20, DOCUMENTATION],
  ['fc00::', 7, PRIVATE],
  ['fe80::', 10, LINK_LOCAL],
  ['fec0::', 10, PRIVATE],
  ['ff00::', 8, MULTICAST],
];

/** IPv6 ranges that carry an IPv4 address in their last 32 bits: IPv4-mapped and NAT64. */
const LAST_32_BITS_IPV4 = blockList([
  ['::ffff:0:0', 96],
  ['64:ff9b::', 96],
]);
/** 6to4 (2002::/16) carries the IPv4 address in bits 16–47. */
const SIX_TO_FOUR = blockList([['2002::', 16]]);
const GLOBAL_UNICAST = blockList([['2000::', 3]]);

const IPV4_LABELS = byLabel(IPV4_RANGES, 'ipv4');
const IPV6_LABELS = byLabel(IPV6_RANGES, 'ipv6');

/**
 * The kind of special-purpose address `address` is (e.g. "a loopback address"), or `undefined`
 * for a globally routable unicast address. Ranges that carry an IPv4 address (IPv4-mapped,
 * NAT64, 6to4) are judged by that address. Text that is not an IP address is reported as such.
 */
export function specialAddressRange(address: string): string | undefined {
  if (isIPv4(address)) return labelOf(IPV4_LABELS, address, 'ipv4');
  const v6 = withoutBracketsAndZone(address);
  if (!isIPv6(v6)) return 'not an IP address';
  const groups = ipv6Groups(v6);
  if (LAST_32_BITS_IPV4.check(v6, 'ipv6'))
    return labelOf(IPV4_LABELS, dottedQuad(groups[6], groups[7]), 'ipv4');
  if (SIX_TO_FOUR.check(v6, 'ipv6')) return labelOf(IPV4_LABELS, dottedQuad(groups[1], groups[2]), 'ipv4');
  const label = labelOf(IPV6_LABELS, v6, 'ipv6');
  if (label !== undefined) return label;
  return GLOBAL_UNICAST.check(v6, 'ipv6') ? undefined : RESERVED;
}

function blockList(subnets: readonly (readonly [base: string, prefix: number])[]): BlockList {
  const list = new BlockList();
  for (const [base, prefix] of subnets) list.addSubnet(base, prefix, 'ipv6');
  return list;
}

/** One BlockList per label, in the order the labels first appear. */
function byLabel(ranges: readonly Range[], family: 'ipv4' | 'ipv6'): ReadonlyMap<string, BlockList> {
  const lists = new Map<string, BlockList>();
  for (const [base, prefix, label] of ranges) {
    let list = lists.get(label);
    if (!list) lists.set(label, (list = new BlockList()));
    list.addSubnet(base, prefix, family);
  }
  return lists;
}

function labelOf(
  lists: ReadonlyMap<string, BlockList>,
  address: string,
  family: 'ipv4' | 'ipv6',
): string | undefined {
  for (const [label, list] of lists) if (list.check(address, family)) return label;
  return undefined;
}

function withoutBracketsAndZone(text: string): string {
  const address = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const zone = address.indexOf('%');
  return zone === -1 ? address : address.slice(0, zone);
}

/** The eight 16-bit groups of a valid IPv6 address (a trailing dotted quad included). */
function ipv6Groups(address: string): readonly number[] {
  let hex = address;
  const lastColon = hex.lastIndexOf(':');
  const last = hex.slice(lastColon + 1);
  if (last.includes('.')) {
    const [a = 0, b = 0, c = 0, d = 0] = last.split('.').map(Number);
    hex = `${hex.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = hex.split('::');
  const first = head ? head.split(':') : [];
  const rest = tail === undefined ? [] : tail ? tail.split(':') : [];
  const zeros = Array<string>(8 - first.length - rest.length).fill('0');
  return [...first, ...zeros, ...rest].map((group) => parseInt(group, 16));
}

/** Two 16-bit groups as a dotted-quad IPv4 address. */
function dottedQuad(high = 0, low = 0): string {
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
}
