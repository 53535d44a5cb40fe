/**
 * Input limits of the HTTP adapter: every refusal is HTTP 400 with the reason, decided before
 * any policy or registry work.
 */
import {
  handleAdmissionEvent,
  jsonNestingDepth,
  MAX_BODY_BYTES,
  MAX_JSON_DEPTH,
  type AdmissionEvent,
} from '../../../lib/lambda/http';
import type { Runtime } from '../../../lib/runtime';
import { publicGoodTrustRoots } from '../../../lib/verify/trust-roots';

const reviewed: unknown[] = [];
const runtime = {
  policies: {
    current: () => {
      reviewed.push('policies');
      return Promise.resolve({ policies: [], version: 'empty' });
    },
  },
  images: {
    resolveDigest: () => Promise.reject(new Error('no registry in this test')),
    cosignSignatures: () => Promise.reject(new Error('no registry in this test')),
  },
  log: { info: () => undefined, warn: () => undefined, error: () => undefined },
  trust: () => Promise.resolve(publicGoodTrustRoots()),
  tokens: undefined,
  close: () => Promise.resolve(),
} as unknown as Runtime;

function review(request: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      operation: 'CREATE',
      name: 'app',
      namespace: 'default',
      object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'app' }, spec: { containers: [] } },
      userInfo: { username: 'admin', groups: ['system:masters'] },
      ...request,
    },
  };
}

async function answer(body: string, isBase64Encoded = false) {
  const event: AdmissionEvent = { body, isBase64Encoded };
  const result = await handleAdmissionEvent(event, runtime);
  return { status: result.statusCode, body: JSON.parse(result.body ?? '') as Record<string, unknown> };
}

beforeEach(() => {
  reviewed.length = 0;
});

describe('body size', () => {
  const padded = (size: number) => {
    const base = JSON.stringify(review({ padding: '' }));
    return base.replace('"padding":""', `"padding":"${'x'.repeat(size - base.length)}"`);
  };

  test(`a body of exactly ${MAX_BODY_BYTES} bytes is read`, async () => {
    const body = padded(MAX_BODY_BYTES);
    expect(Buffer.byteLength(body)).toBe(MAX_BODY_BYTES);
    expect((await answer(body)).status).toBe(200);
  });

  test('one byte more is refused before it is parsed', async () => {
    expect(await answer(padded(MAX_BODY_BYTES + 1))).toEqual({
      status: 400,
      body: { error: `request body is larger than ${MAX_BODY_BYTES} bytes` },
    });
    expect(reviewed).toEqual([]);
  });

  test('multi-byte characters count as the bytes they are', async () => {
    const body = JSON.stringify(review({ padding: 'é'.repeat(MAX_BODY_BYTES / 2) }));
    expect(body.length).toBeLessThan(MAX_BODY_BYTES);
    expect((await answer(body)).status).toBe(400);
  });

  test('base64 bodies are measured decoded, and huge ones refused before decoding', async () => {
    const ok = Buffer.from(padded(MAX_BODY_BYTES)).toString('base64');
    expect((await answer(ok, true)).status).toBe(200);
    const over = Buffer.from(padded(MAX_BODY_BYTES + 1)).toString('base64');
    expect(await answer(over, true)).toEqual({
      status: 400,
      body: { error: `request body is larger than ${MAX_BODY_BYTES} bytes` },
    });
    expect(await answer('A'.repeat(10 * MAX_BODY_BYTES), true)).toEqual({
      status: 400,
      body: { error: `request body is larger than ${MAX_BODY_BYTES} bytes` },
    });
  });
});

describe('nesting depth', () => {
  const nestedObject = (depth: number) => {
    // The review and its request are 2 levels; every other level is an object inside request.object.
    let value: unknown = 1;
    for (let level = 0; level < depth - 2; level++) value = { a: value };
    return JSON.stringify(review({ object: value }));
  };

  test(`${MAX_JSON_DEPTH} levels are read`, async () => {
    expect(jsonNestingDepth(nestedObject(MAX_JSON_DEPTH))).toBe(MAX_JSON_DEPTH);
    expect((await answer(nestedObject(MAX_JSON_DEPTH))).status).toBe(200);
  });

  test.each([MAX_JSON_DEPTH + 1, 100_000])('%i levels are refused', async (depth) => {
    const body = depth > 1_000 ? `${'['.repeat(depth)}${']'.repeat(depth)}` : nestedObject(depth);
    expect(await answer(body)).toEqual({
      status: 400,
      body: { error: `request body nests deeper than ${MAX_JSON_DEPTH} levels` },
    });
  });

  test('brackets inside strings do not count', () => {
    expect(jsonNestingDepth(JSON.stringify({ a: '[[[[{{{{', b: ['"\\"[[['] }))).toBe(2);
  });
});

describe('AdmissionReview fields', () => {
  test.each([
    ['a uid with a space', { uid: 'a b' }, 'request.uid must be printable ASCII without spaces'],
    [
      'a uid with a control character',
      { uid: 'a\u0000b' },
      'request.uid must be printable ASCII without spaces',
    ],
    ['a uid of 129 characters', { uid: 'u'.repeat(129) }, 'request.uid must be at most 128 characters'],
    ['a number as uid', { uid: 7 }, 'request.uid must be a non-empty string'],
    [
      'a kind without kind',
      { kind: { group: '', version: 'v1' } },
      'request.kind.kind must be a non-empty string',
    ],
    [
      'a group that is not a string',
      { kind: { group: 1, version: 'v1', kind: 'Pod' } },
      'request.kind.group must be a string, got 1',
    ],
    [
      'a kind of 254 characters',
      { kind: { kind: 'K'.repeat(254) } },
      'request.kind.kind must be at most 253 characters',
    ],
    [
      'a namespace of 64 characters',
      { namespace: 'n'.repeat(64) },
      'request.namespace must be at most 63 characters',
    ],
    ['a name that is a list', { name: ['a'] }, 'request.name must be a string, got a list'],
    ['an object that is a string', { object: 'pod' }, 'request.object must be an object'],
    ['a CREATE without object', { object: null }, 'request.object is required for CREATE'],
    ['an oldObject that is a list', { oldObject: [] }, 'request.oldObject must be an object'],
    ['metadata that is a list', { object: { metadata: [] } }, 'request.object.metadata must be an object'],
    [
      'an object name that is a number',
      { object: { metadata: { name: 5 } } },
      'request.object.metadata.name must be a string, got 5',
    ],
    [
      'groups that are not a list',
      { userInfo: { groups: 'admins' } },
      'request.userInfo.groups must be a list of at most 1024 strings',
    ],
    [
      'a group that is not a string',
      { userInfo: { groups: ['a', null] } },
      'request.userInfo.groups[1] must be a string, got null',
    ],
    [
      'a username that is an object',
      { userInfo: { username: {} } },
      'request.userInfo.username must be a string, got an object',
    ],
    ['dryRun as a string', { dryRun: 'true' }, 'request.dryRun must be true or false, got "true"'],
  ])('%s: 400 with the field named', async (_name, fields, reason) => {
    expect(await answer(JSON.stringify(review(fields)))).toEqual({
      status: 400,
      body: { error: `invalid AdmissionReview: ${reason}` },
    });
    expect(reviewed).toEqual([]);
  });

  test('a long wrong value is shortened in the message', async () => {
    const result = await answer(JSON.stringify({ ...review(), apiVersion: 'v'.repeat(10_000) }));
    expect(result.status).toBe(400);
    expect(String(result.body.error).length).toBeLessThan(200);
  });

  test('a well-formed review is reviewed', async () => {
    const result = await answer(JSON.stringify(review()));
    expect(result.status).toBe(200);
    expect(reviewed).toEqual(['policies']);
  });
});
