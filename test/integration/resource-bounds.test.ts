/**
 * Bounds on memory and time whatever a registry sends (issue 11, parts 5 and 6), through the HTTP
 * adapter with the real runtime and undici transport: a hostile registry stand-in serving the
 * largest signatures the formats allow next to a real registry (Debian docker-registry) serving a
 * properly signed image, and a fault proxy that makes the real registry slow.
 */
import { readConfig } from '../../lib/config';
import { handleAdmissionEvent } from '../../lib/lambda/http';
import { BODY_BYTES_IN_FLIGHT, IMAGE_BYTE_BUDGET, ResourceLimitError } from '../../lib/model/byte-budget';
import { registryTimeout } from '../../lib/deadline';
import { MAX_BUNDLE_BYTES, MAX_REFERRERS } from '../../lib/model/cosign-format';
import { cosignTag } from '../../lib/model/image';
import { createRuntime, type Runtime } from '../../lib/runtime';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy';
import { startHostileRegistry, type HostileRegistry } from '../support/hostile-registry';
import {
  decodePatch,
  imageOps,
  parseBlocked,
  podReview,
  REPOSITORY,
  samplePolicy,
  startKyvernoScenario,
  type KyvernoScenario,
} from '../support/scenario';
import { quietLog } from '../support/quiet';

interface Answer {
  allowed: boolean;
  status?: { message: string };
  warnings?: string[];
  patch?: string;
}

let scenario: KyvernoScenario;

beforeAll(async () => {
  scenario = await startKyvernoScenario();
});

afterAll(async () => {
  await scenario?.stop();
});

/** A runtime whose policy (failure policy `failurePolicy`) covers every image on 127.0.0.1. */
async function runtimeFor(insecure: readonly string[], failurePolicy: 'Fail' | 'Ignore' = 'Fail') {
  const policy = samplePolicy('current', '127.0.0.1:*', scenario.policyKey.publicKeyPem).replace(
    'failurePolicy: Fail',
    `failurePolicy: ${failurePolicy}`,
  );
  const config = readConfig({
    IMAGEGATE_POLICIES: await scenario.folderWith({ 'policy.yaml': policy }),
    IMAGEGATE_INSECURE_REGISTRIES: insecure.join(','),
  });
  return createRuntime(config, quietLog);
}

async function admit(runtime: Runtime, name: string, images: readonly string[], timeout = '10s') {
  const result = await handleAdmissionEvent(
    {
      body: JSON.stringify(podReview(name, images)),
      isBase64Encoded: false,
      queryStringParameters: { timeout },
    },
    runtime,
  );
  expect(result.statusCode).toBe(200);
  return (JSON.parse(result.body ?? '') as { response: Answer }).response;
}

/** The rule messages of a denial by the sample policy. */
function ruleMessage(response: Answer): string {
  const tree = parseBlocked(response.status?.message).tree as Record<string, Record<string, string>>;
  return tree['check-image']?.['check-image'] ?? '';
}

describe('a per-review byte budget', () => {
  let hostile: HostileRegistry;

  beforeAll(async () => {
    // The most bundles an image may have, each of the largest size one may be: 500 MiB per image.
    hostile = await startHostileRegistry({ bundles: MAX_REFERRERS, bundleBytes: MAX_BUNDLE_BYTES });
  });

  afterAll(async () => {
    await hostile?.stop();
  });

  test('an image whose signatures exceed it could not be checked; the signed image next to it passes', async () => {
    const expected = `could not verify image ${hostile.image('evil/app')}: ${
      new ResourceLimitError('IMAGE_BYTE_BUDGET_EXCEEDED', hostile.host, IMAGE_BYTE_BUDGET).message
    }`;
    const images = [hostile.image('evil/app'), scenario.image('signed')];

    const strict = await runtimeFor([hostile.host, scenario.registry.host]);
    try {
      const denied = await admit(strict, 'mixed', images);
      expect(denied.allowed).toBe(false);
      expect(ruleMessage(denied)).toBe(expected);
    } finally {
      await strict.close();
    }

    // Under failurePolicy Ignore, "could not check" admits with the reason, and the signed image is pinned.
    const lenient = await runtimeFor([hostile.host, scenario.registry.host], 'Ignore');
    try {
      const admitted = await admit(lenient, 'mixed', images);
      expect(admitted.allowed).toBe(true);
      expect(admitted.warnings?.join('\n')).toContain(expected);
      expect(imageOps(decodePatch(admitted))).toEqual([
        {
          op: 'replace',
          path: '/spec/containers/1/image',
          value: `${scenario.registry.host}/${REPOSITORY}:signed@${scenario.digests.signed}`,
        },
      ]);
    } finally {
      await lenient.close();
    }
  });
});

describe('a per-process bound on bodies in flight', () => {
  test('no more bodies are read at once than the bound lets reserve', async () => {
    // Small bundles (within every budget), each held by the registry until requests stop
    // arriving: every read the client allows itself is in flight at the same moment.
    const hostile = await startHostileRegistry({
      bundles: MAX_REFERRERS,
      bundleBytes: 64 * 1024,
      holdUntilQuietMs: 200,
    });
    const runtime = await runtimeFor([hostile.host]);
    try {
      await admit(runtime, 'many-bundles', [hostile.image('many/app')]);
      const bound = Math.floor(BODY_BYTES_IN_FLIGHT / MAX_BUNDLE_BYTES);
      expect(hostile.bodies().requests).toBe(MAX_REFERRERS);
      expect(hostile.bodies().most).toBeGreaterThan(0);
      expect(hostile.bodies().most).toBeLessThanOrEqual(bound);
    } finally {
      await runtime.close();
      await hostile.stop();
    }
  });
});

describe('every review leaves at its own deadline', () => {
  let proxy: FaultProxy;

  beforeAll(async () => {
    proxy = await startFaultProxy(scenario.registry.host);
  });

  afterEach(() => proxy.reset());

  afterAll(async () => {
    await proxy?.stop();
  });

  /**
   * A review with a 1 s deadline, then (while it waits) a review with 10 s of the same signed
   * image, in one runtime, the registry answering `slowPath` after 1.5 s.
   */
  async function concurrentReviews(slowPath: string) {
    const runtime = await runtimeFor([proxy.host]);
    try {
      // Policies and trust roots loaded, so that both reviews reach the registry the same way.
      await admit(runtime, 'warm', [`${proxy.host}/${REPOSITORY}:unsigned`]);
      proxy.reset();
      proxy.add({ path: slowPath, fault: { kind: 'latency', ms: 1_500 } });
      const image = `${proxy.host}/${REPOSITORY}:signed`;
      const answered: string[] = [];
      const short = admit(runtime, 'short', [image], '1s').then((answer) => {
        answered.push('short');
        return answer;
      });
      const long = admit(runtime, 'long', [image], '10s').then((answer) => {
        answered.push('long');
        return answer;
      });
      return { short: await short, long: await long, answered, slowRequests: proxy.count(slowPath) };
    } finally {
      await runtime.close();
    }
  }

  test.each([
    ['the tag resolution', () => `/v2/${REPOSITORY}/manifests/signed`],
    [
      'the signature read and the verification',
      () => `/v2/${REPOSITORY}/manifests/${cosignTag(scenario.digests.signed, 'sig')}`,
    ],
  ])('shared %s: the 1 s review times out, the 10 s review is admitted', async (_what, path) => {
    const slowPath = path();
    const { short, long, answered, slowRequests } = await concurrentReviews(slowPath);

    expect(short.allowed).toBe(false);
    expect(ruleMessage(short)).toBe(
      `could not verify image ${proxy.host}/${REPOSITORY}:signed: ${registryTimeout(proxy.host).message}`,
    );
    expect(long.allowed).toBe(true);
    expect(long.status).toBeUndefined();
    expect(answered).toEqual(['short', 'long']);
    // One registry read served both reviews.
    expect(slowRequests).toBe(1);
  });
});
