import { registryTimeout, SharedWork } from '../../lib/deadline';
import { deadlineOf, rememberDeadline } from '../../lib/oci/retry';

/** Work that settles when the test says so, recording the signal it ran under. */
function controllable() {
  const signals: AbortSignal[] = [];
  let finish: (value: string) => void = () => undefined;
  const work = (signal: AbortSignal) => {
    signals.push(signal);
    return new Promise<string>((resolve, reject) => {
      finish = resolve;
      signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
    });
  };
  return { work, signals, finish: (value: string) => finish(value) };
}

const timeout = () => registryTimeout('registry.example');

/** A review's signal whose deadline is known to the retry layer. */
function review(deadline: number) {
  const controller = new AbortController();
  rememberDeadline(controller.signal, deadline);
  return controller;
}

describe('SharedWork: shared work with each waiter leaving at its own deadline', () => {
  test('the first waiter leaving does not stop the work; the second gets its result', async () => {
    const shared = new SharedWork<string>();
    const { work, signals, finish } = controllable();
    const short = review(1_000);
    const long = review(10_000);

    const first = shared.join('key', short.signal, work, timeout);
    const second = shared.join('key', long.signal, work, timeout);
    short.abort();

    await expect(first).rejects.toThrow(timeout().message);
    expect(signals).toHaveLength(1);
    expect(signals[0]?.aborted).toBe(false);
    finish('verified');
    await expect(second).resolves.toBe('verified');
    expect(shared.size).toBe(0);
  });

  test('the work runs under the latest waiting deadline, not the first caller’s signal', () => {
    const shared = new SharedWork<string>();
    const { work, signals } = controllable();
    void shared.join('key', review(1_000).signal, work, timeout).catch(() => undefined);
    void shared.join('key', review(10_000).signal, work, timeout).catch(() => undefined);
    void shared.join('key', review(5_000).signal, work, timeout).catch(() => undefined);
    expect(deadlineOf(signals[0])).toBe(10_000);
  });

  test('when every waiter has left, the work is aborted and the next caller starts afresh', async () => {
    const shared = new SharedWork<string>();
    const { work, signals } = controllable();
    const one = review(1_000);
    const two = review(2_000);
    const first = shared.join('key', one.signal, work, timeout);
    const second = shared.join('key', two.signal, work, timeout);
    one.abort();
    two.abort();
    await expect(first).rejects.toThrow(timeout().message);
    await expect(second).rejects.toThrow(timeout().message);
    expect(signals[0]?.aborted).toBe(true);
    expect(shared.size).toBe(0);

    const third = shared.join('key', review(3_000).signal, work, timeout);
    expect(signals).toHaveLength(2);
    expect(signals[1]?.aborted).toBe(false);
    void third.catch(() => undefined);
  });

  test('a waiter without a signal keeps the work going; an already aborted one never joins', async () => {
    const shared = new SharedWork<string>();
    const { work, signals, finish } = controllable();
    const gone = new AbortController();
    gone.abort();
    await expect(shared.join('key', gone.signal, work, timeout)).rejects.toThrow(timeout().message);
    expect(signals).toHaveLength(0);

    const short = review(1_000);
    const first = shared.join('key', short.signal, work, timeout);
    const patient = shared.join('key', undefined, work, timeout);
    short.abort();
    await expect(first).rejects.toThrow(timeout().message);
    expect(signals[0]?.aborted).toBe(false);
    finish('done');
    await expect(patient).resolves.toBe('done');
  });

  test('a failure of the work reaches every waiter', async () => {
    const shared = new SharedWork<string>();
    const failing = () => Promise.reject(new Error('registry said no'));
    const results = await Promise.allSettled([
      shared.join('key', undefined, failing, timeout),
      shared.join('key', undefined, failing, timeout),
    ]);
    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected']);
    expect(shared.size).toBe(0);
  });
});
