import { RegistryError } from '../../../lib/model/registry-errors';
import { parseImageReference } from '../../../lib/model/image';
import { RegistryImageSource } from '../../../lib/oci/image-source';
import { RegistryClient } from '../../../lib/oci/registry';
import { retryAfterMs, RetryingTransport } from '../../../lib/oci/retry';
import { Gatherer } from '../../../lib/review/gather';
import type { RegistryTransport, TransportRequest, TransportResponse } from '../../../lib/ports';

function scripted(statuses: number[], headers: Record<string, string> = {}) {
  const sent: TransportRequest[] = [];
  const transport: RegistryTransport = {
    send: (request) => {
      sent.push(request);
      const status = statuses.shift() ?? 200;
      return Promise.resolve<TransportResponse>({ status, headers, body: Buffer.alloc(0) });
    },
  };
  return { transport, sent };
}

const request = (
  method: TransportRequest['method'] = 'GET',
  signal?: AbortSignal,
  deadline?: number,
): TransportRequest => ({
  method,
  url: new URL('https://registry.example/v2/a/manifests/1'),
  headers: {},
  maxBytes: 1024,
  signal,
  deadline,
});

describe('RetryingTransport', () => {
  test.each([429, 502, 503, 504])('GET answered %i is tried at most three times', async (status) => {
    const { transport, sent } = scripted([status, status, status, status]);
    const retrying = new RetryingTransport(transport, { baseDelayMs: 1 });
    await expect(retrying.send(request())).resolves.toMatchObject({ status });
    expect(sent).toHaveLength(3);
  });

  test.each([400, 401, 403, 404, 500, 501])('GET answered %i is not retried', async (status) => {
    const { transport, sent } = scripted([status]);
    await new RetryingTransport(transport, { baseDelayMs: 1 }).send(request());
    expect(sent).toHaveLength(1);
  });

  test('a POST (the token exchange) is never retried', async () => {
    const { transport, sent } = scripted([503, 503]);
    await expect(
      new RetryingTransport(transport, { baseDelayMs: 1 }).send(request('POST')),
    ).resolves.toMatchObject({ status: 503 });
    expect(sent).toHaveLength(1);
  });

  test('a success after a 503 is returned', async () => {
    const { transport, sent } = scripted([503, 200]);
    await expect(new RetryingTransport(transport, { baseDelayMs: 1 }).send(request())).resolves.toMatchObject(
      {
        status: 200,
      },
    );
    expect(sent).toHaveLength(2);
  });

  test('backoff doubles with jitter between 50 % and 100 %', async () => {
    jest.useFakeTimers();
    try {
      const { transport, sent } = scripted([503, 503, 503]);
      const retrying = new RetryingTransport(transport, { baseDelayMs: 100, random: () => 1 });
      const sending = retrying.send(request());
      await jest.advanceTimersByTimeAsync(99);
      expect(sent).toHaveLength(1);
      await jest.advanceTimersByTimeAsync(1);
      expect(sent).toHaveLength(2);
      await jest.advanceTimersByTimeAsync(199);
      expect(sent).toHaveLength(2);
      await jest.advanceTimersByTimeAsync(1);
      expect(sent).toHaveLength(3);
      await expect(sending).resolves.toMatchObject({ status: 503 });

      const low = scripted([503, 200]);
      const lowSending = new RetryingTransport(low.transport, { baseDelayMs: 100, random: () => 0 }).send(
        request(),
      );
      await jest.advanceTimersByTimeAsync(50);
      expect(low.sent).toHaveLength(2);
      await lowSending;
    } finally {
      jest.useRealTimers();
    }
  });

  test('Retry-After within the deadline is waited for; past it the answer is returned at once', async () => {
    let now = 0;
    const controller = new AbortController();
    const short = scripted([429, 200], { 'retry-after': '2' });
    jest.useFakeTimers();
    try {
      const retrying = new RetryingTransport(short.transport, { now: () => now });
      const sending = retrying.send(request('GET', controller.signal, 3_000));
      await jest.advanceTimersByTimeAsync(1_999);
      expect(short.sent).toHaveLength(1);
      await jest.advanceTimersByTimeAsync(1);
      expect(short.sent).toHaveLength(2);
      await expect(sending).resolves.toMatchObject({ status: 200 });
    } finally {
      jest.useRealTimers();
    }

    // 2.9 s + the time the request itself needs would end after the deadline.
    now = 0;
    const late = scripted([429], { 'retry-after': '3' });
    await expect(
      new RetryingTransport(late.transport, { now: () => now }).send(
        request('GET', controller.signal, 3_000),
      ),
    ).resolves.toMatchObject({ status: 429 });
    expect(late.sent).toHaveLength(1);
  });

  test('with a known deadline, maxDelayMs does not cap the wait: Retry-After 8 with 20 s left is waited for', async () => {
    const now = 0;
    const { transport, sent } = scripted([503, 200], { 'retry-after': '8' });
    jest.useFakeTimers();
    try {
      const sending = new RetryingTransport(transport, { now: () => now }).send(
        request('GET', new AbortController().signal, 20_000),
      );
      await jest.advanceTimersByTimeAsync(7_999);
      expect(sent).toHaveLength(1);
      await jest.advanceTimersByTimeAsync(1);
      expect(sent).toHaveLength(2);
      await expect(sending).resolves.toMatchObject({ status: 200 });
    } finally {
      jest.useRealTimers();
    }
  });

  test('the deadline of a read shared by the gather step reaches the retry layer with each request', async () => {
    const late = scripted([429], { 'retry-after': '3' });
    const retrying = new RetryingTransport(late.transport, { now: () => 0 });
    const gatherer = new Gatherer(new RegistryImageSource(new RegistryClient({ transport: retrying })));
    const ref = parseImageReference('registry.example/a:1');
    const first = gatherer.review({ signal: new AbortController().signal, at: 3_000 }).digest(ref);
    const second = gatherer.review({ signal: new AbortController().signal, at: 2_000 }).digest(ref);
    const [one, two] = await Promise.all([first, second]);
    // Retry-After 3 s would end after the 3 s deadline: the 429 is the answer, for both reviews.
    expect(one.ok || two.ok).toBe(false);
    expect(late.sent).toHaveLength(1);
    expect(late.sent[0]?.deadline).toBe(3_000);
  });

  test('an infinite deadline (shared work with a caller that has none) is no deadline: the cap applies', async () => {
    const { transport, sent } = scripted([503], { 'retry-after': '120' });
    await expect(
      new RetryingTransport(transport).send(request('GET', undefined, Infinity)),
    ).resolves.toMatchObject({ status: 503 });
    expect(sent).toHaveLength(1);
  });

  test('without a known deadline, Retry-After longer than maxDelayMs is not waited for', async () => {
    const { transport, sent } = scripted([503], { 'retry-after': '120' });
    await expect(new RetryingTransport(transport).send(request())).resolves.toMatchObject({ status: 503 });
    expect(sent).toHaveLength(1);
  });

  test('an abort during the wait ends it at once as a timeout ("could not check")', async () => {
    const controller = new AbortController();
    const { transport, sent } = scripted([503, 200], { 'retry-after': '4' });
    const sending = new RetryingTransport(transport).send(request('GET', controller.signal));
    setTimeout(() => controller.abort(), 20);
    await expect(sending).rejects.toThrow(RegistryError);
    await expect(sending).rejects.toMatchObject({
      code: 'REGISTRY_TIMEOUT',
      message: 'registry registry.example did not answer in time',
    });
    expect(sent).toHaveLength(1);
  });
});

describe('retryAfterMs', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  test.each([
    ['3', 3_000],
    [' 0 ', 0],
    ['Wed, 01 Jan 2025 00:00:05 GMT', 5_000],
    ['Tue, 31 Dec 2024 23:59:00 GMT', 0],
    ['soon', undefined],
    ['-1', undefined],
    ['1.5', undefined],
    [undefined, undefined],
  ])('%s -> %s', (value, expected) => {
    expect(retryAfterMs(value, now)).toBe(expected);
  });
});
