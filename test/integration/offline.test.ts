/**
 * The deployed shape, locally: API Gateway HTTP API (serverless offline) -> esbuild bundle of
 * functions/admit.ts -> AdmissionReview. One server for the whole file, with an empty policy folder.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startOffline } from '../support/offline';
import type { OfflineServer } from '../support/offline';

interface Reply {
  status: number;
  contentType: string | null;
  body: unknown;
  text: string;
}

let server: OfflineServer | undefined;
let policiesDir: string | undefined;

beforeAll(async () => {
  policiesDir = mkdtempSync(path.join(os.tmpdir(), 'imagegate-policies-'));
  server = await startOffline({ IMAGEGATE_POLICIES: policiesDir });
}, 90_000);

afterAll(async () => {
  await server?.stop();
  if (policiesDir) rmSync(policiesDir, { recursive: true, force: true });
}, 15_000);

async function admit(body: string): Promise<Reply> {
  const res = await fetch(`${server!.url}/admit`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: res.status, contentType: res.headers.get('content-type'), body: parsed, text };
}

function podReview(uid: string): object {
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'app', namespace: 'default', labels: { app: 'app' } },
    spec: { containers: [{ name: 'app', image: 'registry.example.test/team/app:v1' }] },
  };
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      requestResource: { group: '', version: 'v1', resource: 'pods' },
      name: 'app',
      namespace: 'default',
      operation: 'CREATE',
      userInfo: { username: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] },
      object: pod,
      oldObject: null,
      dryRun: false,
      options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
    },
  };
}

describe('POST /admit through serverless offline', () => {
  test.each([
    ['a body that is not JSON', 'this is not json'],
    ['JSON that is not an AdmissionReview', JSON.stringify({ hello: 'world' })],
  ])('%s gets 400 with a JSON error', async (_name, body) => {
    const reply = await admit(body);

    expect(reply).toMatchObject({ status: 400 });
    expect(reply.contentType).toMatch(/^application\/json/);
    expect(reply.body).toEqual({ error: expect.any(String) });
    expect((reply.body as { error: string }).error).not.toBe('');
  });

  test('a v1 AdmissionReview for a Pod with no matching policy is allowed, uid echoed', async () => {
    const uid = randomUUID();

    const reply = await admit(JSON.stringify(podReview(uid)));

    // toMatchObject on the whole reply, so a failure shows the body too.
    expect(reply).toMatchObject({ status: 200 });
    expect(reply.contentType).toMatch(/^application\/json/);
    expect(reply.body).toEqual({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid, allowed: true },
    });
  });
});
