/**
 * Verify each digest once, in parallel, within the API server's deadline — and never let a
 * cached verdict stand in for another digest. In-process runtime against a real registry behind
 * a counting proxy, so registry requests and verifications are counted exactly.
 */
import http from 'node:http';
import type { Socket } from 'node:net';
import { readConfig } from '../../lib/config';
import { reviewBudgetMs } from '../../lib/deadline';
import { handleAdmissionEvent } from '../../lib/lambda/http';
import { createRuntime, type Runtime } from '../../lib/runtime';
import { answerAdmissionReview } from '../../lib/review/webhook';
import { signImage } from '../support/cosign-signer';
import { pushImage } from '../support/images';
import { startCountingProxy, type CountingProxy } from '../support/registry';
import {
  deploymentReview,
  parseBlocked,
  podReview,
  samplePolicy,
  startKyvernoScenario,
  type KyvernoScenario,
} from '../support/scenario';
import { listenOnLoopback } from '../support/ports';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

let scenario: KyvernoScenario;
let proxy: CountingProxy;

beforeAll(async () => {
  scenario = await startKyvernoScenario();
  proxy = await startCountingProxy(scenario.registry.host);
});

afterAll(async () => {
  await proxy?.stop();
  await scenario?.stop();
});

async function runtimeFor(env: Record<string, string> = {}): Promise<Runtime> {
  const policy = samplePolicy('current', `${proxy.host}/*`, scenario.policyKey.publicKeyPem);
  const config = readConfig({
    IMAGEGATE_POLICIES: await scenario.folderWith({ 'policy.yaml': policy }),
    IMAGEGATE_INSECURE_REGISTRIES: proxy.host,
    ...env,
  });
  return createRuntime(config, quiet);
}

const image = (tag: string) => `${proxy.host}/kyverno/test-verify-image:${tag}`;

describe('each digest is verified once', () => {
  test('a Deployment with 8 containers sharing one image: one verification, one fetch of each object', async () => {
    const runtime = await runtimeFor();
    proxy.reset();
    const answer = await answerAdmissionReview(
      deploymentReview('eight', Array<string>(8).fill(image('signed'))),
      runtime,
    );
    expect(answer.response.allowed).toBe(true);
    expect(runtime.cache?.stats.verifications).toBe(1);
    // tag -> digest; the .sig manifest and its payload; the referrers API and referrers tag (bundles)
    expect(proxy.count()).toBe(5);
  });

  test('100 concurrent reviews of the same unseen image share one verification', async () => {
    const runtime = await runtimeFor();
    proxy.reset();
    const answers = await Promise.all(
      Array.from({ length: 100 }, (_, index) =>
        answerAdmissionReview(podReview(`p${index}`, [image('signed')]), runtime),
      ),
    );
    expect(answers.every((answer) => answer.response.allowed)).toBe(true);
    expect(runtime.cache?.stats.verifications).toBe(1);
    expect(proxy.count()).toBe(5);
  });

  test('a warm review makes no registry request for a pinned image, and one tag lookup otherwise', async () => {
    const runtime = await runtimeFor({ IMAGEGATE_TAG_CACHE_SECONDS: '0' });
    const pinned = `${image('signed')}@${scenario.digests.signed}`;
    await answerAdmissionReview(podReview('cold', [image('signed')]), runtime);
    proxy.reset();
    await answerAdmissionReview(podReview('warm-pinned', [pinned]), runtime);
    expect(proxy.count()).toBe(0);
    await answerAdmissionReview(podReview('warm-tag', [image('signed')]), runtime);
    expect(proxy.requests()).toEqual([`GET /v2/kyverno/test-verify-image/manifests/signed`]);
    expect(runtime.cache?.stats).toMatchObject({ verifications: 1, hits: 2 });
  });
});

describe('a verdict is cached by digest, never by tag', () => {
  test('a tag moved to an unsigned digest after a cached pass is denied', async () => {
    const runtime = await runtimeFor({ IMAGEGATE_TAG_CACHE_SECONDS: '0' });
    const digest = await pushImage(scenario.registry.host, 'kyverno/test-verify-image', 'moving');
    await signImage(
      scenario.registry.host,
      'kyverno/test-verify-image',
      digest,
      scenario.policyKey.privateKey,
    );
    const before = await answerAdmissionReview(podReview('before', [image('moving')]), runtime);
    expect(before.response.allowed).toBe(true);

    await pushImage(scenario.registry.host, 'kyverno/test-verify-image', 'moving');
    const after = await answerAdmissionReview(podReview('after', [image('moving')]), runtime);
    expect(after.response.allowed).toBe(false);
    expect(parseBlocked(after.response.status?.message).tree).toEqual({
      'check-image': {
        'check-image': `image verification failed for ${image('moving')}: signature not found`,
      },
    });
  });

  test('a cached pass for digest A never admits digest B', async () => {
    const runtime = await runtimeFor();
    const a = `${image('signed')}@${scenario.digests.signed}`;
    const b = `${image('signed')}@${scenario.digests.unsigned}`;
    expect((await answerAdmissionReview(podReview('a', [a]), runtime)).response.allowed).toBe(true);
    expect((await answerAdmissionReview(podReview('b', [b]), runtime)).response.allowed).toBe(false);
  });

  test('a registry error is never cached: the next review asks the registry again', async () => {
    let failing = true;
    const flaky = http.createServer((request, response) => {
      if (failing) return response.writeHead(503).end();
      const upstream = http.request(
        {
          host: '127.0.0.1',
          port: Number(scenario.registry.host.split(':')[1]),
          path: request.url,
          headers: request.headers,
        },
        (reply) => {
          response.writeHead(reply.statusCode ?? 502, reply.headers);
          reply.pipe(response);
        },
      );
      request.pipe(upstream);
    });
    const host = await listenOnLoopback(flaky);
    try {
      const policy = samplePolicy('current', `${host}/*`, scenario.policyKey.publicKeyPem);
      const runtime = createRuntime(
        readConfig({
          IMAGEGATE_POLICIES: await scenario.folderWith({ 'flaky.yaml': policy }),
          IMAGEGATE_INSECURE_REGISTRIES: host,
        }),
        quiet,
      );
      const pinned = `${host}/kyverno/test-verify-image:signed@${scenario.digests.signed}`;
      const down = await answerAdmissionReview(podReview('down', [pinned]), runtime);
      expect(down.response.allowed).toBe(false);
      expect(down.response.status?.message).toContain('could not verify image');
      failing = false;
      const up = await answerAdmissionReview(podReview('up', [pinned]), runtime);
      expect(up.response.allowed).toBe(true);
      expect(runtime.cache?.stats.verifications).toBe(2);
    } finally {
      await new Promise((resolve) => flaky.close(resolve));
    }
  });
});

describe('the deadline', () => {
  test('a hanging registry is answered before the API server gives up, naming the slow registry', async () => {
    const sockets = new Set<Socket>();
    const hanging = http.createServer(() => undefined);
    hanging.on('connection', (socket) => sockets.add(socket));
    const host = await listenOnLoopback(hanging);
    try {
      const policy = samplePolicy('current', `${host}/*`, scenario.policyKey.publicKeyPem);
      const runtime = createRuntime(
        readConfig({
          IMAGEGATE_POLICIES: await scenario.folderWith({ 'hang.yaml': policy }),
          IMAGEGATE_INSECURE_REGISTRIES: host,
        }),
        quiet,
      );
      const started = performance.now();
      const result = await handleAdmissionEvent(
        {
          body: JSON.stringify(podReview('slow', [`${host}/team/app:1`])),
          isBase64Encoded: false,
          queryStringParameters: { timeout: '2s' },
        },
        runtime,
      );
      const elapsed = performance.now() - started;
      // Four times the 1.7 s budget: room for a loaded machine, still short of undici's 10 s header
      // timeout that would end the hang if the deadline did not; the reason below names the deadline.
      expect(elapsed).toBeLessThan(4 * reviewBudgetMs(2_000));
      const response = (
        JSON.parse(result.body ?? '') as { response: { allowed: boolean; status: { message: string } } }
      ).response;
      expect(response.allowed).toBe(false);
      expect(parseBlocked(response.status.message).tree).toEqual({
        'check-image': {
          'check-image': `could not verify image ${host}/team/app:1: registry ${host} did not answer in time`,
        },
      });
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => hanging.close(resolve));
    }
  });
});
