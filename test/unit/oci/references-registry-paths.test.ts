/**
 * Issue 11, part 2: Docker Hub official images are fetched where they live, `/v2/library/<name>/`,
 * with the token scope for that name, as the kubelet, cosign and every registry client do.
 */
import { createHash } from 'node:crypto';
import { parseImageReference } from '../../../lib/model/image';
import { RegistryClient } from '../../../lib/oci/registry';
import type { RegistryTransport, TransportRequest, TransportResponse } from '../../../lib/ports';

const BODY = Buffer.from('blob bytes');
const DIGEST = `sha256:${createHash('sha256').update(BODY).digest('hex')}`;

/** The token the fake token service grants for `scope` (header-safe). */
const tokenFor = (scope: string) => Buffer.from(scope).toString('base64url');

/** Docker Hub as seen by a client: a token service, and blobs only with its token. */
function dockerHub(): RegistryTransport & { sent: TransportRequest[] } {
  const sent: TransportRequest[] = [];
  return {
    sent,
    send: (request): Promise<TransportResponse> => {
      sent.push(request);
      if (request.url.host === 'auth.docker.io') {
        const body = Buffer.from(
          JSON.stringify({ token: tokenFor(request.url.searchParams.get('scope') ?? '') }),
        );
        return Promise.resolve({ status: 200, headers: { 'content-type': 'application/json' }, body });
      }
      if (!request.headers.authorization) {
        return Promise.resolve({
          status: 401,
          headers: {
            'www-authenticate': 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io"',
          },
          body: Buffer.alloc(0),
        });
      }
      return Promise.resolve({ status: 200, headers: {}, body: BODY });
    },
  };
}

describe('an official Docker Hub image is read at /v2/library/<name>/', () => {
  test.each([
    'nginx',
    'library/nginx',
    'docker.io/library/nginx',
    'index.docker.io/nginx',
    'registry-1.docker.io/nginx',
  ])('%s', async (image) => {
    const transport = dockerHub();
    const ref = parseImageReference(image);

    await new RegistryClient({ transport }).getBlob(ref.registry, ref.repository, DIGEST, 1024);

    expect(transport.sent.map((request) => request.url.href)).toEqual([
      `https://registry-1.docker.io/v2/library/nginx/blobs/${DIGEST}`,
      'https://auth.docker.io/token?service=registry.docker.io&scope=repository%3Alibrary%2Fnginx%3Apull',
      `https://registry-1.docker.io/v2/library/nginx/blobs/${DIGEST}`,
    ]);
    expect(transport.sent[2]?.headers.authorization).toBe(
      `Bearer ${tokenFor('repository:library/nginx:pull')}`,
    );
  });

  test('other repositories keep their name', async () => {
    const transport = dockerHub();

    await new RegistryClient({ transport }).getBlob('docker.io', 'acme/app', DIGEST, 1024);
    await new RegistryClient({ transport }).getBlob('ghcr.io', 'nginx', DIGEST, 1024);

    expect(transport.sent.map((request) => request.url.href)).toEqual([
      `https://registry-1.docker.io/v2/acme/app/blobs/${DIGEST}`,
      'https://auth.docker.io/token?service=registry.docker.io&scope=repository%3Aacme%2Fapp%3Apull',
      `https://registry-1.docker.io/v2/acme/app/blobs/${DIGEST}`,
      `https://ghcr.io/v2/nginx/blobs/${DIGEST}`,
      'https://auth.docker.io/token?service=registry.docker.io&scope=repository%3Anginx%3Apull',
      `https://ghcr.io/v2/nginx/blobs/${DIGEST}`,
    ]);
  });
});
