import { registryTimeout, SharedWork, type Deadline } from '../../lib/deadline';

/** Work that settles when the test says so, recording the deadline it ran under. */
function controllable() {
  const signals: AbortSignal[] = [];
  const deadlines: Deadline[] = [];
  let finish: (value: string) => void = () => undefined;
  const work = (own: Deadline) => {
    const { signal } = own;
    signals.push(signal);
    deadlines.push(own);
    return new Promise<string>((resolve, reject) => {
      finish = resolve;
      signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
    });
  };
  return { work, signals, deadlines, finish: (value: string) => finish(value) };
}

const timeout = () => registryTimeout('registry.example');

/** A review's deadline, `at` epoch ms, and the controller that fires its signal. */
function review(at: number) {
  const controller = new AbortController();
  return { deadline: { signal: controller.signal, at }, abort: () => controller.abort() };
}

describe('SharedWork: shared work with each waiter leaving at its own deadline', () => {
  test('the first waiter leaving does not stop the work; the second gets its result', async () => {
    const shared = new SharedWork<string>();
    const { work, signals, finish } = controllable();
    const short = review(1_000);
    const long = review(10_000);

    const first = shared.join('key', short.deadline, work, timeout);
    const second = shared.join('key', long.deadline, work, timeout);
    short.abort();

    await expect(first).rejects.toThrow(timeout().message);
    expect(signals).toHaveLength(1);
    expect(signals[0]?.aborted).toBe(false);
    finish('verified');
    await expect(second).resolves.toBe('verified');
    expect(shared.size).toBe(0);
  });

  test('the work runs under the latest waiting deadline, not the first caller’s', () => {
    const shared = new SharedWork<string>();
    const { work, deadlines } = controllable();
    void shared.join('key', review(1_000).deadline, work, timeout).catch(() => undefined);
    expect(deadlines[0]?.at).toBe(1_000);
    void shared.join('key', review(10_000).deadline, work, timeout).catch(() => undefined);
    void shared.join('key', review(5_000).deadline, work, timeout).catch(() => undefined);
    expect(deadlines).toHaveLength(1);
    expect(deadlines[0]?.at).toBe(10_000);
  });

  test('a waiter whose time is not known makes the work’s deadline unknown (Infinity)', () => {
    const shared = new SharedWork<string>();
    const { work, deadlines } = controllable();
    void shared.join('key', review(1_000).deadline, work, timeout).catch(() => undefined);
    void shared
      .join('key', { signal: new AbortController().signal, at: Infinity }, work, timeout)
      .catch(() => undefined);
    expect(deadlines[0]?.at).toBe(Infinity);
  });

  test('when every waiter has left, the work is aborted and the next caller starts afresh', async () => {
    const shared = new SharedWork<string>();
    const { work, signals } = controllable();
    const one = review(1_000);
    const two = review(2_000);
    const first = shared.join('key', one.deadline, work, timeout);
    const second = shared.join('key', two.deadline, work, timeout);
    one.abort();
    two.abort();
    await expect(first).rejects.toThrow(timeout().message);
    await expect(second).rejects.toThrow(timeout().message);
    expect(signals[0]?.aborted).toBe(true);
    expect(shared.size).toBe(0);

    const third = shared.join('key', review(3_000).deadline, work, timeout);
    expect(signals).toHaveLength(2);
    expect(signals[1]?.aborted).toBe(false);
    void third.catch(() => undefined);
  });

  test('a waiter without a deadline keeps the work going; an already aborted one never joins', async () => {
    const shared = new SharedWork<string>();
    const { work, signals, finish } = controllable();
    const gone = review(1_000);
    gone.abort();
    await expect(shared.join('key', gone.deadline, work, timeout)).rejects.toThrow(timeout().message);
    expect(signals).toHaveLength(0);

    const short = review(1_000);
    const first = shared.join('key', short.deadline, work, timeout);
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
