/**
 * RedirectingTransport over a scripted transport: which hops are made, and which Authorization
 * each hop carries.
 */
import { RegistryError } from '../../../lib/model/registry-errors';
import { MAX_REDIRECTS, RedirectingTransport } from '../../../lib/oci/redirects';
import type { RegistryTransport, TransportRequest, TransportResponse } from '../../../lib/ports';

const empty = Buffer.alloc(0);
const redirect = (location: string, status = 307): TransportResponse => ({
  status,
  headers: { location },
  body: empty,
});
const ok: TransportResponse = { status: 200, headers: {}, body: Buffer.from('ok') };

function scripted(route: (url: URL) => TransportResponse): RegistryTransport & { sent: TransportRequest[] } {
  const sent: TransportRequest[] = [];
  return {
    sent,
    send: (request) => {
      sent.push(request);
      return Promise.resolve(route(request.url));
    },
  };
}

const get = (url: string, extra: Partial<TransportRequest> = {}): TransportRequest => ({
  method: 'GET',
  url: new URL(url),
  headers: { accept: 'application/json' },
  maxBytes: 1024,
  ...extra,
});

describe('RedirectingTransport', () => {
  test('follows 301, 302, 303, 307 and 308 and names the URL that answered', async () => {
    for (const status of [301, 302, 303, 307, 308]) {
      const transport = scripted((url) =>
        url.host === 'registry.example' ? redirect('https://blobs.example/b', status) : ok,
      );
      const response = await new RedirectingTransport(transport).send(get('https://registry.example/v2/a'));
      expect(response.status).toBe(200);
      expect(response.url?.href).toBe('https://blobs.example/b');
      expect(transport.sent.map((request) => request.url.href)).toEqual([
        'https://registry.example/v2/a',
        'https://blobs.example/b',
      ]);
    }
  });

  test('each hop carries only the Authorization of its own origin', async () => {
    const transport = scripted((url) =>
      url.host === 'registry.example' ? redirect('https://blobs.example/b') : ok,
    );
    const authorizations = new Map([
      ['https://registry.example', 'Bearer registry'],
      ['https://blobs.example', 'Bearer blobs'],
    ]);
    await new RedirectingTransport(transport).send(get('https://registry.example/v2/a', { authorizations }));
    expect(transport.sent.map((request) => request.headers.authorization)).toEqual([
      'Bearer registry',
      'Bearer blobs',
    ]);
    expect(transport.sent.every((request) => request.headers.accept === 'application/json')).toBe(true);
  });

  test('without a map, the request’s own Authorization goes to its starting origin only', async () => {
    const transport = scripted((url) => (url.port === '' ? redirect('https://registry.example:444/b') : ok));
    await new RedirectingTransport(transport).send(
      get('https://registry.example/v2/a', { headers: { authorization: 'Basic x' } }),
    );
    expect(transport.sent.map((request) => request.headers.authorization)).toEqual(['Basic x', undefined]);
  });

  test(`at most ${MAX_REDIRECTS} redirects are followed`, async () => {
    const transport = scripted((url) => redirect(`/hop${Number(url.pathname.slice(4) || 0) + 1}`));
    const sending = new RedirectingTransport(transport).send(get('https://registry.example/hop0'));
    await expect(sending).rejects.toThrow(RegistryError);
    await expect(sending).rejects.toMatchObject({
      code: 'REGISTRY_HTTP',
      registry: 'registry.example',
      status: 307,
    });
    expect(transport.sent).toHaveLength(MAX_REDIRECTS + 1);
  });

  test('a redirect to another scheme, or to no URL, is refused without a request', async () => {
    for (const location of ['file:///etc/passwd', 'http://[::1']) {
      const transport = scripted(() => redirect(location));
      await expect(
        new RedirectingTransport(transport).send(get('https://registry.example/v2/a')),
      ).rejects.toMatchObject({ code: 'REGISTRY_HTTP', registry: 'registry.example' });
      expect(transport.sent).toHaveLength(1);
    }
  });

  test('a POST and a redirect without Location are passed through as they are', async () => {
    const transport = scripted(() => ({ status: 302, headers: {}, body: empty }));
    const redirecting = new RedirectingTransport(transport);
    await expect(redirecting.send(get('https://registry.example/v2/a'))).resolves.toMatchObject({
      status: 302,
    });
    const post = scripted(() => redirect('https://elsewhere.example/'));
    await expect(
      new RedirectingTransport(post).send({ ...get('https://registry.example/token'), method: 'POST' }),
    ).resolves.toMatchObject({ status: 307 });
    expect(post.sent).toHaveLength(1);
  });
});
