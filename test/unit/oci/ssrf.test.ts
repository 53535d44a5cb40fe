/**
 * The SSRF guard with an injected resolver and a transport that only records: no packet leaves
 * this process. Each refusal must happen before the transport is asked to connect at all.
 */
import { createHash } from 'node:crypto';
import { RegistryContentError, RegistryError } from '../../../lib/model/registry-errors';
import { RegistryClient } from '../../../lib/oci/registry';
import { GuardedTransport, RegistryAddressGuard } from '../../../lib/oci/address-guard';
import { specialAddressRange } from '../../../lib/oci/ip-ranges';
import type { RegistryTransport, TransportRequest, TransportResponse } from '../../../lib/ports';
import type { Resolver } from '../../../lib/ports';

/** Records every request it is asked to send and answers from `answer`; opens no connection. */
function recordingTransport(answer: (request: TransportRequest) => TransportResponse = () => ok('{}')) {
  const sent: TransportRequest[] = [];
  const transport: RegistryTransport = {
    send: (request) => {
      sent.push(request);
      return Promise.resolve(answer(request));
    },
  };
  return { transport, sent };
}

function ok(body: string, headers: Record<string, string> = {}): TransportResponse {
  return { status: 200, headers, body: Buffer.from(body) };
}

function fakeResolver(table: Record<string, readonly string[]>) {
  const calls: string[] = [];
  const resolve: Resolver = (hostname) => {
    calls.push(hostname);
    const addresses = table[hostname];
    if (addresses) return Promise.resolve(addresses);
    return Promise.reject(
      Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }),
    );
  };
  return { resolve, calls };
}

const get = (url: string): TransportRequest => ({
  method: 'GET',
  url: new URL(url),
  headers: {},
  maxBytes: 1024,
});

describe('specialAddressRange', () => {
  test.each([
    ['127.0.0.1', 'a loopback address'],
    ['127.255.255.254', 'a loopback address'],
    ['0.0.0.0', 'an unspecified address'],
    ['0.1.2.3', 'an unspecified address'],
    ['10.0.0.1', 'a private address'],
    ['172.16.0.1', 'a private address'],
    ['172.31.255.255', 'a private address'],
    ['192.168.1.1', 'a private address'],
    ['169.254.169.254', 'a link-local address'],
    ['169.254.170.2', 'a link-local address'],
    ['100.64.0.1', 'a shared (carrier-grade NAT) address'],
    ['100.127.255.255', 'a shared (carrier-grade NAT) address'],
    ['224.0.0.1', 'a multicast address'],
    ['239.255.255.250', 'a multicast address'],
    ['255.255.255.255', 'a reserved address'],
    ['240.0.0.1', 'a reserved address'],
    ['192.0.0.8', 'a reserved address'],
    ['192.0.2.1', 'a documentation address'],
    ['198.51.100.7', 'a documentation address'],
    ['203.0.113.9', 'a documentation address'],
    ['198.18.0.1', 'a benchmarking address'],
    ['::', 'an unspecified address'],
    ['::1', 'a loopback address'],
    ['[::1]', 'a loopback address'],
    ['0:0:0:0:0:0:0:1', 'a loopback address'],
    ['fe80::1', 'a link-local address'],
    ['fe80::1%eth0', 'a link-local address'],
    ['febf:ffff::1', 'a link-local address'],
    ['fd00:ec2::254', 'an EC2 instance metadata address'],
    ['fc00::1', 'a private address'],
    ['fd12:3456::1', 'a private address'],
    ['fec0::1', 'a private address'],
    ['ff02::1', 'a multicast address'],
    ['::ffff:127.0.0.1', 'a loopback address'],
    ['::ffff:7f00:1', 'a loopback address'],
    ['::ffff:169.254.169.254', 'a link-local address'],
    ['::ffff:a00:1', 'a private address'],
    ['64:ff9b::a00:1', 'a private address'],
    ['64:ff9b::7f00:1', 'a loopback address'],
    ['64:ff9b:1::1', 'a private address'],
    ['2002:7f00:1::1', 'a loopback address'],
    ['2002:a9fe:a9fe::', 'a link-local address'],
    ['::127.0.0.1', 'a reserved address'],
    ['100::1', 'a reserved address'],
    ['2001::1', 'a reserved address'],
    ['2001:db8::1', 'a documentation address'],
    ['3fff::1', 'a documentation address'],
    ['4000::1', 'a reserved address'],
    ['registry.example', 'not an IP address'],
  ])('%s is %s', (address, range) => {
    expect(specialAddressRange(address)).toBe(range);
  });

  test.each([
    '8.8.8.8',
    '1.1.1.1',
    '172.32.0.1',
    '172.15.255.255',
    '100.128.0.1',
    '169.253.255.255',
    '192.169.0.1',
    '223.255.255.255',
    '2606:4700:4700::1111',
    '2a00:1450:4001:80b::200e',
    '::ffff:8.8.8.8',
    '64:ff9b::808:808',
    '2002:808:808::1',
  ])('%s is globally routable', (address) => {
    expect(specialAddressRange(address)).toBeUndefined();
  });
});

describe('GuardedTransport refuses before any connection', () => {
  const hint = (host: string) => `; allow it with IMAGEGATE_ALLOWED_PRIVATE_REGISTRIES=${host}`;

  test.each([
    ['http://127.0.0.1:5000/v2/', '127.0.0.1:5000', 'a loopback address (127.0.0.1)'],
    ['https://localhost/v2/', 'localhost', 'a loopback address (localhost)'],
    [
      'https://registry.localhost:8443/v2/',
      'registry.localhost:8443',
      'a loopback address (registry.localhost)',
    ],
    ['https://[::1]:5000/v2/', '[::1]:5000', 'a loopback address (::1)'],
    [
      'https://169.254.169.254/latest/meta-data/',
      '169.254.169.254',
      'a link-local address (169.254.169.254)',
    ],
    [
      'https://[fd00:ec2::254]/latest/',
      '[fd00:ec2::254]',
      'an EC2 instance metadata address (fd00:ec2::254)',
    ],
    ['https://[::ffff:127.0.0.1]/v2/', '[::ffff:7f00:1]', 'a loopback address (::ffff:7f00:1)'],
    // The URL parser reads these IPv4 spellings as 127.0.0.1 before the guard sees them.
    ['http://2130706433:5000/v2/', '127.0.0.1:5000', 'a loopback address (127.0.0.1)'],
    ['http://0x7f.1:5000/v2/', '127.0.0.1:5000', 'a loopback address (127.0.0.1)'],
    ['https://0.0.0.0/v2/', '0.0.0.0', 'an unspecified address (0.0.0.0)'],
    ['https://internal.example/v2/', 'internal.example', 'a private address (10.0.0.1)'],
    ['https://mixed.example/v2/', 'mixed.example', 'a private address (192.168.0.7)'],
    ['https://cgnat.example/v2/', 'cgnat.example', 'a shared (carrier-grade NAT) address (100.64.1.1)'],
  ])('%s', async (url, host, range) => {
    const { resolve, calls } = fakeResolver({
      'internal.example': ['10.0.0.1'],
      'mixed.example': ['93.184.216.34', '192.168.0.7'],
      'cgnat.example': ['100.64.1.1'],
    });
    const { transport, sent } = recordingTransport();
    const guarded = new GuardedTransport(transport, new RegistryAddressGuard({ resolve }));

    const sending = guarded.send(get(url));
    await expect(sending).rejects.toThrow(RegistryContentError);
    await expect(sending).rejects.toMatchObject({
      code: 'ADDRESS_REFUSED',
      registry: host,
      message: `registry ${host} refused: resolves to ${range}${hint(host)}`,
    });
    expect(sent).toEqual([]);
    // IP literals and localhost are judged without asking DNS.
    expect(calls).toEqual(url.includes('.example') ? [new URL(url).hostname] : []);
  });

  test('schemes other than http(s) are refused', async () => {
    const { transport, sent } = recordingTransport();
    const guarded = new GuardedTransport(
      transport,
      new RegistryAddressGuard({ resolve: fakeResolver({}).resolve }),
    );
    await expect(guarded.send(get('file:///etc/passwd'))).rejects.toMatchObject({
      code: 'ADDRESS_REFUSED',
      message: 'registry file:///etc/passwd refused: only http and https are fetched, not file',
    });
    expect(sent).toEqual([]);
  });

  test('a name that does not resolve is "could not check" (RegistryError), not a refusal', async () => {
    const { transport, sent } = recordingTransport();
    const guarded = new GuardedTransport(
      transport,
      new RegistryAddressGuard({ resolve: fakeResolver({}).resolve }),
    );
    const sending = guarded.send(get('https://nowhere.example/v2/'));
    await expect(sending).rejects.toThrow(RegistryError);
    await expect(sending).rejects.toMatchObject({
      code: 'REGISTRY_UNREACHABLE',
      message: 'registry nowhere.example unreachable (ENOTFOUND)',
    });
    expect(sent).toEqual([]);
  });

  test('an aborted request does not wait for DNS', async () => {
    const guard = new RegistryAddressGuard({ resolve: () => new Promise(() => undefined) });
    const controller = new AbortController();
    const checking = guard.check(new URL('https://slow.example/v2/'), controller.signal);
    controller.abort();
    await expect(checking).rejects.toMatchObject({
      code: 'REGISTRY_TIMEOUT',
      message: 'registry slow.example did not answer in time',
    });
  });
});

describe('GuardedTransport pins the connection to the address it checked', () => {
  test('a public name: connectAddress is the checked address (IPv4 first), DNS asked once per TTL', async () => {
    let now = 0;
    const { resolve, calls } = fakeResolver({ 'ghcr.example': ['2606:50c0:8000::154', '140.82.112.34'] });
    const { transport, sent } = recordingTransport();
    const guarded = new GuardedTransport(
      transport,
      new RegistryAddressGuard({ resolve, cacheMs: 1_000, now: () => now }),
    );
    await guarded.send(get('https://ghcr.example/v2/a/manifests/1'));
    await guarded.send(get('https://ghcr.example/v2/a/manifests/2'));
    expect(sent.map((request) => [request.url.host, request.connectAddress])).toEqual([
      ['ghcr.example', '140.82.112.34'],
      ['ghcr.example', '140.82.112.34'],
    ]);
    expect(calls).toEqual(['ghcr.example']);
    now = 1_001;
    await guarded.send(get('https://ghcr.example/v2/a/manifests/3'));
    expect(calls).toEqual(['ghcr.example', 'ghcr.example']);
  });

  test('DNS rebinding: a later private answer is refused; the earlier one is never reused for it', async () => {
    const answers = [['93.184.216.34'], ['127.0.0.1']];
    const resolve: Resolver = () => Promise.resolve(answers.shift() ?? []);
    const { transport, sent } = recordingTransport();
    const guarded = new GuardedTransport(transport, new RegistryAddressGuard({ resolve, cacheMs: 0 }));
    await guarded.send(get('https://rebind.example/v2/'));
    await expect(guarded.send(get('https://rebind.example/v2/'))).rejects.toMatchObject({
      code: 'ADDRESS_REFUSED',
      message: expect.stringContaining('resolves to a loopback address (127.0.0.1)') as unknown,
    });
    expect(sent.map((request) => request.connectAddress)).toEqual(['93.184.216.34']);
  });

  test('a failed connection moves to the next checked address; other failures do not', async () => {
    const { resolve } = fakeResolver({ 'two.example': ['93.184.216.34', '93.184.216.35'] });
    const attempts: (string | undefined)[] = [];
    const refusedOnce: RegistryTransport = {
      send: (request) => {
        attempts.push(request.connectAddress);
        if (attempts.length === 1) {
          const cause = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
          return Promise.reject(
            new RegistryError('REGISTRY_UNREACHABLE', 'two.example', 'unreachable', { cause }),
          );
        }
        return Promise.resolve(ok('{}'));
      },
    };
    const guarded = new GuardedTransport(refusedOnce, new RegistryAddressGuard({ resolve }));
    await expect(guarded.send(get('https://two.example/v2/'))).resolves.toMatchObject({ status: 200 });
    expect(attempts).toEqual(['93.184.216.34', '93.184.216.35']);
  });
});

describe('configuration allows a registry', () => {
  test('by host and port: it is neither resolved nor pinned; another port of the same host is refused', async () => {
    const { resolve, calls } = fakeResolver({});
    const { transport, sent } = recordingTransport();
    const guard = new RegistryAddressGuard({
      resolve,
      allowed: ['127.0.0.1:5000', 'registry.internal', '[::1]:5001', 'Mirror.Internal:443'],
    });
    const guarded = new GuardedTransport(transport, guard);
    for (const url of [
      'http://127.0.0.1:5000/v2/',
      'https://registry.internal/v2/',
      'https://[::1]:5001/v2/',
      'https://mirror.internal/v2/',
    ]) {
      await guarded.send(get(url));
    }
    expect(sent.map((request) => [request.url.host, request.connectAddress])).toEqual([
      ['127.0.0.1:5000', undefined],
      ['registry.internal', undefined],
      ['[::1]:5001', undefined],
      ['mirror.internal', undefined],
    ]);
    expect(calls).toEqual([]);
    await expect(guarded.send(get('http://127.0.0.1:5001/v2/'))).rejects.toMatchObject({
      code: 'ADDRESS_REFUSED',
    });
    // A host listed without a port is allowed on the default port only.
    await expect(guarded.send(get('https://registry.internal:8443/v2/'))).rejects.toMatchObject({
      code: 'REGISTRY_UNREACHABLE',
    });
    expect(calls).toEqual(['registry.internal']);
  });
});

describe('through the registry client', () => {
  const digest = `sha256:${'a'.repeat(64)}`;

  test('a redirect to loopback is refused before it is followed', async () => {
    const { resolve } = fakeResolver({ 'registry.example': ['93.184.216.34'] });
    const { transport, sent } = recordingTransport(() => ({
      status: 307,
      headers: { location: 'http://127.0.0.1:9000/internal' },
      body: Buffer.alloc(0),
    }));
    const client = new RegistryClient({
      transport: new GuardedTransport(transport, new RegistryAddressGuard({ resolve })),
    });
    await expect(client.getBlob('registry.example', 'team/app', digest, 1024)).rejects.toMatchObject({
      code: 'ADDRESS_REFUSED',
      message:
        'registry 127.0.0.1:9000 refused: resolves to a loopback address (127.0.0.1); allow it with IMAGEGATE_ALLOWED_PRIVATE_REGISTRIES=127.0.0.1:9000',
    });
    expect(sent.map((request) => request.url.href)).toEqual([
      `https://registry.example/v2/team/app/blobs/${digest}`,
    ]);
  });

  test('a token realm on a link-local address is refused before the credentials are sent', async () => {
    const { resolve } = fakeResolver({ 'registry.example': ['93.184.216.34'] });
    const { transport, sent } = recordingTransport(() => ({
      status: 401,
      headers: { 'www-authenticate': 'Bearer realm="https://169.254.169.254/token",service="x"' },
      body: Buffer.alloc(0),
    }));
    const client = new RegistryClient({
      transport: new GuardedTransport(transport, new RegistryAddressGuard({ resolve })),
      credentials: () => Promise.resolve({ username: 'user', password: 'secret' }),
    });
    await expect(client.getManifest('registry.example', 'team/app', 'v1')).rejects.toMatchObject({
      code: 'ADDRESS_REFUSED',
      registry: '169.254.169.254',
    });
    expect(sent.map((request) => request.url.host)).toEqual(['registry.example']);
  });

  test('a redirect to a malformed URL is a registry error ("could not check"), not a crash', async () => {
    const { resolve } = fakeResolver({ 'registry.example': ['93.184.216.34'] });
    const { transport } = recordingTransport((): TransportResponse => ({
      status: 302,
      headers: { location: 'http://[bad' },
      body: Buffer.alloc(0),
    }));
    const client = new RegistryClient({
      transport: new GuardedTransport(transport, new RegistryAddressGuard({ resolve })),
    });
    await expect(client.getManifest('registry.example', 'team/app', 'v1')).rejects.toMatchObject({
      code: 'REGISTRY_HTTP',
      message: 'registry registry.example redirected to an invalid URL',
    });
  });

  test('credentials are dropped when a redirect leaves the registry host', async () => {
    const { resolve } = fakeResolver({
      'registry.example': ['93.184.216.34'],
      'storage.example': ['93.184.216.35'],
    });
    const body = Buffer.from('blob');
    const blobDigest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    const { transport, sent } = recordingTransport((request): TransportResponse => {
      if (request.url.host === 'storage.example') return { status: 200, headers: {}, body };
      if (!request.headers.authorization) {
        return { status: 401, headers: { 'www-authenticate': 'Basic realm="r"' }, body: Buffer.alloc(0) };
      }
      return {
        status: 307,
        headers: { location: 'https://storage.example/blob?sig=1' },
        body: Buffer.alloc(0),
      };
    });
    const client = new RegistryClient({
      transport: new GuardedTransport(transport, new RegistryAddressGuard({ resolve })),
      credentials: () => Promise.resolve({ username: 'user', password: 'secret' }),
    });
    await expect(client.getBlob('registry.example', 'team/app', blobDigest, 1024)).resolves.toEqual(body);
    expect(sent.map((request) => [request.url.host, request.headers.authorization])).toEqual([
      ['registry.example', undefined],
      ['registry.example', `Basic ${Buffer.from('user:secret').toString('base64')}`],
      ['storage.example', undefined],
    ]);
    expect(sent.map((request) => request.connectAddress)).toEqual([
      '93.184.216.34',
      '93.184.216.34',
      '93.184.216.35',
    ]);
  });
});
