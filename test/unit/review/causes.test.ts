/** The cause of a check, from the error a port threw: by class and code (and the review's deadline), never by text. */
import { registryTimeout } from '../../../lib/deadline';
import { IMAGE_BYTE_BUDGET, ResourceLimitError } from '../../../lib/model/byte-budget';
import { RegistryContentError, RegistryError } from '../../../lib/model/registry-errors';
import { causeOfError, causeOfOutcome } from '../../../lib/review/causes';

const REGISTRY = 'registry.test';
const aborted = (() => {
  const controller = new AbortController();
  controller.abort(new Error('review deadline reached'));
  return controller.signal;
})();
const running = new AbortController().signal;

describe('causeOfError', () => {
  const timedOut = new RegistryError('REGISTRY_TIMEOUT', REGISTRY, 'timed out (UND_ERR_CONNECT_TIMEOUT)');

  test('a network timeout before the deadline is the registry’s; at the deadline it is the deadline', () => {
    expect(causeOfError(timedOut, running, 'other.test')).toEqual({
      kind: 'registry',
      code: 'REGISTRY_TIMEOUT',
      registry: REGISTRY,
      detail: timedOut.message,
    });
    const left = registryTimeout(REGISTRY);
    expect(causeOfError(left, aborted, 'other.test')).toEqual({
      kind: 'deadline',
      registry: REGISTRY,
      detail: left.message,
    });
  });

  test('an untyped error is internal, or the deadline once the review’s signal has fired', () => {
    const error = new Error('review deadline reached');
    expect(causeOfError(error, running, REGISTRY)).toEqual({ kind: 'internal', detail: error.message });
    expect(causeOfError(error, aborted, REGISTRY)).toEqual({
      kind: 'deadline',
      registry: REGISTRY,
      detail: error.message,
    });
  });

  test('content the registry got wrong stays the registry’s, whatever the time', () => {
    const error = new RegistryContentError('DIGEST_MISMATCH', REGISTRY, 'served bytes with another digest');
    expect(causeOfError(error, aborted, REGISTRY)).toMatchObject({
      kind: 'registry',
      code: 'DIGEST_MISMATCH',
    });
  });

  test('HTTP statuses and byte budgets keep their code', () => {
    const http = new RegistryError('REGISTRY_HTTP', REGISTRY, 'answered HTTP 503', { status: 503 });
    expect(causeOfError(http, running, REGISTRY)).toMatchObject({ code: 'REGISTRY_HTTP', status: 503 });
    const budget = new ResourceLimitError('IMAGE_BYTE_BUDGET_EXCEEDED', REGISTRY, IMAGE_BYTE_BUDGET);
    expect(causeOfError(budget, running, REGISTRY)).toMatchObject({
      kind: 'registry',
      code: 'IMAGE_BYTE_BUDGET_EXCEEDED',
      registry: REGISTRY,
    });
  });

  test('evidence never read is internal', () => {
    expect(causeOfError(undefined, running, REGISTRY)).toEqual({
      kind: 'internal',
      detail: 'signatures were not fetched',
    });
  });
});

describe('causeOfOutcome', () => {
  test('a failure decided by content the registry got wrong is the registry’s, worded by the verifier', () => {
    const content = new RegistryContentError('TRUNCATED', REGISTRY, 'cut short');
    const reason = 'signature not found; cut short';
    expect(
      causeOfOutcome(
        { status: 'fail', failure: 'UNTRUSTED_CONTENT', reason, cause: content },
        running,
        REGISTRY,
        true,
      ),
    ).toEqual({
      kind: 'registry',
      code: 'TRUNCATED',
      registry: REGISTRY,
      detail: reason,
      attestations: true,
    });
  });

  test('any other failure is the verifier’s, with its kind', () => {
    expect(
      causeOfOutcome(
        { status: 'fail', failure: 'INVALID_SIGNATURE', reason: 'invalid signature' },
        running,
        REGISTRY,
        false,
      ),
    ).toEqual({ kind: 'verification', failure: 'INVALID_SIGNATURE', detail: 'invalid signature' });
  });

  test('an error is the read it names', () => {
    const http = new RegistryError('REGISTRY_HTTP', REGISTRY, 'answered HTTP 503', { status: 503 });
    expect(
      causeOfOutcome(
        { status: 'error', reason: 'x: answered HTTP 503', cause: http },
        running,
        REGISTRY,
        false,
      ),
    ).toEqual({
      kind: 'registry',
      code: 'REGISTRY_HTTP',
      registry: REGISTRY,
      status: 503,
      detail: 'x: answered HTTP 503',
    });
  });
});
