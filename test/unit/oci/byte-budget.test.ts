import { registryTimeout } from '../../../lib/deadline';
import {
  byteBudgetOf,
  ByteSemaphore,
  chargeRequestsTo,
  IMAGE_BYTE_BUDGET,
  ResourceLimitError,
  REVIEW_BYTE_BUDGET,
  ReviewByteBudget,
} from '../../../lib/oci/byte-budget';

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

  test('the budget travels with the signal of the requests charged to it', () => {
    const signal = new AbortController().signal;
    const budget = new ReviewByteBudget().review;
    chargeRequestsTo(signal, budget);
    expect(byteBudgetOf(signal)).toBe(budget);
    expect(byteBudgetOf(new AbortController().signal)).toBeUndefined();
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
