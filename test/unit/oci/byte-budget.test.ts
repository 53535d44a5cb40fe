import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { registryTimeout } from '../../../lib/deadline';
import {
  ByteBudget,
  ByteSemaphore,
  IMAGE_BYTE_BUDGET,
  ResourceLimitError,
  REVIEW_BYTE_BUDGET,
  ReviewByteBudget,
} from '../../../lib/model/byte-budget';
import { GuardedTransport, RegistryAddressGuard } from '../../../lib/oci/address-guard';
import { RegistryImageSource } from '../../../lib/oci/image-source';
import { RegistryClient } from '../../../lib/oci/registry';
import { RetryingTransport } from '../../../lib/oci/retry';
import { UndiciTransport } from '../../../lib/oci/transport';
import type { RegistryTransport, TransportRequest, TransportResponse } from '../../../lib/ports';

const timeout = () => registryTimeout('registry.example');

describe('ReviewByteBudget', () => {
  test('an image over its share fails with its own code; the review and other images go on', () => {
    const budget = new ReviewByteBudget({ review: 100, image: 60 });
    budget.image('sha256:a').charge(60, 'evil.example');
    expect(() => budget.image('sha256:a').charge(1, 'evil.example')).toThrow(
      new ResourceLimitError('IMAGE_BYTE_BUDGET_EXCEEDED', 'evil.example', 60),
    );
    expect(() => budget.image('sha256:b').charge(30, 'good.example')).not.toThrow();
    expect(() => budget.image('sha256:b').check('good.example')).not.toThrow();
  });

  test('the images of one review share its budget', () => {
    const budget = new ReviewByteBudget({ review: 100, image: 60 });
    budget.image('sha256:a').charge(50, 'one.example');
    budget.image('sha256:b').charge(50, 'two.example');
    let error: unknown;
    try {
      budget.image('sha256:c').charge(1, 'three.example');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ResourceLimitError);
    expect((error as ResourceLimitError).code).toBe('REVIEW_BYTE_BUDGET_EXCEEDED');
    expect(() => budget.review.check('one.example')).toThrow(ResourceLimitError);
  });

  test('a body announced larger than what is left is refused before it is read', () => {
    const budget = new ReviewByteBudget({ review: 100, image: 60 });
    expect(() => budget.image('sha256:a').check('evil.example', 61)).toThrow(ResourceLimitError);
    expect(budget.review.spent).toBe(0);
  });

  test('the defaults: a review reads at most twice what one image may', () => {
    const budget = new ReviewByteBudget();
    expect(budget.review.limit).toBe(REVIEW_BYTE_BUDGET);
    expect(budget.image('sha256:a').limit).toBe(IMAGE_BYTE_BUDGET);
  });
});

describe('the byte budget passed with each request', () => {
  const BODY = Buffer.from('twenty bytes of body');
  let server: Server;
  let base: string;
  let requests = 0;
  const transport = new UndiciTransport();

  beforeAll(async () => {
    server = createServer((request, response) => {
      requests++;
      if (request.url === '/chunked') {
        // No Content-Length: the body is charged chunk by chunk as it arrives.
        response.write(BODY.subarray(0, 8));
        response.end(BODY.subarray(8));
      } else {
        response.setHeader('content-length', BODY.length);
        response.end(BODY);
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await transport.close();
    await new Promise((resolve) => server.close(resolve));
  });

  const get = (path: string, budget?: ByteBudget): Promise<TransportResponse> =>
    transport.send({ method: 'GET', url: new URL(path, base), headers: {}, maxBytes: 1024, budget });

  test('the transport charges each body to the budget its request carries, and to no other', async () => {
    const review = new ReviewByteBudget();
    const first = review.image('sha256:a');
    const second = review.image('sha256:b');
    await expect(get('/announced', first)).resolves.toMatchObject({ status: 200, body: BODY });
    await get('/chunked', second);
    await get('/announced');
    expect(first.spent).toBe(BODY.length);
    expect(second.spent).toBe(BODY.length);
    expect(review.review.spent).toBe(2 * BODY.length);
  });

  test('a body over the budget fails with its code, announced or chunked', async () => {
    for (const path of ['/announced', '/chunked']) {
      const budget = new ByteBudget(BODY.length - 1, 'IMAGE_BYTE_BUDGET_EXCEEDED');
      await expect(get(path, budget)).rejects.toMatchObject({
        code: 'IMAGE_BYTE_BUDGET_EXCEEDED',
        limit: BODY.length - 1,
      });
    }
  });

  test('a request whose budget is spent is not sent', async () => {
    const budget = new ByteBudget(BODY.length, 'REVIEW_BYTE_BUDGET_EXCEEDED');
    await get('/announced', budget);
    const sent = requests;
    await expect(get('/announced', budget)).rejects.toBeInstanceOf(ResourceLimitError);
    expect(requests).toBe(sent);
  });
});

describe('an image source read', () => {
  const REGISTRY = 'registry.example';
  const STORAGE = 'storage.example';
  const PAYLOAD = Buffer.from('{"critical":{}}');
  const PAYLOAD_DIGEST = `sha256:${createHash('sha256').update(PAYLOAD).digest('hex')}`;
  const IMAGE = `sha256:${'a'.repeat(64)}`;
  const signatures = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      layers: [{ mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', digest: PAYLOAD_DIGEST }],
    }),
  );
  const answer = (status: number, headers: Record<string, string> = {}, body = Buffer.alloc(0)) => ({
    status,
    headers,
    body,
  });

  /** A registry behind a token service that redirects blobs to storage, busy (503) once. */
  function registry(): RegistryTransport & { sent: TransportRequest[] } {
    const sent: TransportRequest[] = [];
    let busy = true;
    const route = (request: TransportRequest): TransportResponse => {
      const { host, pathname } = request.url;
      if (host === STORAGE) return answer(200, {}, PAYLOAD);
      if (pathname === '/token') return answer(200, {}, Buffer.from('{"token":"t"}'));
      if (request.headers.authorization !== 'Bearer t') {
        return answer(401, { 'www-authenticate': `Bearer realm="https://${REGISTRY}/token"` });
      }
      if (pathname.includes('/blobs/')) {
        if (busy) {
          busy = false;
          return answer(503, { 'retry-after': '0' });
        }
        return answer(307, { location: `https://${STORAGE}/payload` });
      }
      return answer(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }, signatures);
    };
    return {
      sent,
      send: (request) => {
        sent.push(request);
        return Promise.resolve(route(request));
      },
    };
  }

  test('passes its budget, signal and deadline with every request it sends: token, retry and redirect included', async () => {
    const network = registry();
    const guard = new RegistryAddressGuard({ resolve: () => Promise.resolve(['93.184.216.34']) });
    const transport = new GuardedTransport(new RetryingTransport(network, { baseDelayMs: 0 }), guard);
    const source = new RegistryImageSource(new RegistryClient({ transport }));
    const budget = new ReviewByteBudget().image(IMAGE);
    const signal = new AbortController().signal;
    const deadline = Date.now() + 60_000;

    const layers = await source.cosignSignatures(
      { registry: REGISTRY, repository: 'team/app' },
      IMAGE,
      signal,
      budget,
      deadline,
    );

    expect(layers.map((layer) => Buffer.from(layer.payload))).toEqual([PAYLOAD]);
    const paths = network.sent.map((request) => `${request.url.host}${request.url.pathname}`);
    expect(paths).toEqual(
      expect.arrayContaining([
        `${REGISTRY}/token`,
        `${STORAGE}/payload`,
        `${REGISTRY}/v2/team/app/blobs/${PAYLOAD_DIGEST}`,
      ]),
    );
    // Busy once, then redirected (the token from the manifest read is reused).
    expect(paths.filter((path) => path.includes('/blobs/'))).toHaveLength(2);
    for (const request of network.sent) {
      expect(request.budget).toBe(budget);
      expect(request.signal).toBe(signal);
      expect(request.deadline).toBe(deadline);
    }
  });
});

describe('ByteSemaphore', () => {
  test('holders never reserve more than the capacity; waiters go first come, first served', async () => {
    const semaphore = new ByteSemaphore(10);
    const granted: string[] = [];
    const first = await semaphore.acquire(6, undefined, timeout);
    const second = semaphore.acquire(6, undefined, timeout).then((release) => {
      granted.push('second');
      return release;
    });
    const third = semaphore.acquire(4, undefined, timeout).then((release) => {
      granted.push('third');
      return release;
    });
    await Promise.resolve();
    // The 4 would fit, but it queues behind the 6 that came first.
    expect(semaphore.inUse).toBe(6);
    expect(granted).toEqual([]);
    first();
    (await second)();
    (await third)();
    expect(granted).toEqual(['second', 'third']);
    expect(semaphore.inUse).toBe(0);
  });

  test('a request larger than the capacity waits for all of it; an aborted waiter leaves the queue', async () => {
    const semaphore = new ByteSemaphore(10);
    const holding = await semaphore.acquire(1, undefined, timeout);
    const review = new AbortController();
    const huge = semaphore.acquire(1_000, review.signal, timeout);
    const small = semaphore.acquire(5, undefined, timeout);
    review.abort();
    await expect(huge).rejects.toThrow(timeout().message);
    (await small)();
    holding();
    const all = await semaphore.acquire(1_000, undefined, timeout);
    expect(semaphore.inUse).toBe(10);
    all();
    all();
    expect(semaphore.inUse).toBe(0);
  });
});
