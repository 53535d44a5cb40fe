/**
 * Failing dependencies: a fault-injecting proxy between the webhook (in-process runtime, real
 * undici transport) and a real registry. Every fault ends in one exact decision and message class:
 * "not trusted" (`image verification failed for …`: denied under Enforce whatever the failure
 * policy) or "could not check" (`could not verify image …`: denied under failurePolicy Fail,
 * admitted with a warning under Ignore) — never a crash, never a bad-signature message.
 */
import { createHash } from 'node:crypto';
import { readConfig } from '../../lib/config';
import { parseApiServerTimeout, reviewBudgetMs } from '../../lib/deadline';
import { handleAdmissionEvent } from '../../lib/lambda/http';
import { RegistryContentError } from '../../lib/model/registry-errors';
import { cosignTag } from '../../lib/model/image';
import { RegistryClient } from '../../lib/oci/registry';
import { UndiciTransport } from '../../lib/oci/transport';
import { createRuntime } from '../../lib/runtime';
import { fetchSignatures } from '../support/cosign-signer';
import { startFaultProxy, type Fault, type FaultProxy } from '../support/fault-proxy';
import { getManifest } from '../support/images';
import {
  parseBlocked,
  podReview,
  REPOSITORY,
  samplePolicy,
  startKyvernoScenario,
  type KyvernoScenario,
} from '../support/scenario';
import { quietLog } from '../support/quiet';

type FailurePolicy = 'Fail' | 'Ignore';

interface Answer {
  uid: string;
  allowed: boolean;
  status?: { message: string };
  warnings?: string[];
}

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

let scenario: KyvernoScenario;
let proxy: FaultProxy;
const folders: Partial<Record<FailurePolicy, string>> = {};
let signedManifest: Buffer;
let signature: { digest: string; payload: Buffer };

beforeAll(async () => {
  scenario = await startKyvernoScenario();
  proxy = await startFaultProxy(scenario.registry.host);
  for (const failurePolicy of ['Fail', 'Ignore'] as const) {
    const policy = samplePolicy('current', `${proxy.host}/*`, scenario.policyKey.publicKeyPem).replace(
      'failurePolicy: Fail',
      `failurePolicy: ${failurePolicy}`,
    );
    folders[failurePolicy] = await scenario.folderWith({ 'policy.yaml': policy });
  }
  signedManifest = (await getManifest(scenario.registry.host, REPOSITORY, 'signed'))!.body;
  const layer = (await fetchSignatures(scenario.registry.host, REPOSITORY, scenario.digests.signed))!
    .layers[0]!;
  signature = { digest: layer.descriptor.digest, payload: layer.payload };
});

afterEach(() => proxy.reset());

afterAll(async () => {
  await proxy?.stop();
  await scenario?.stop();
});

const image = (tag: string) => `${proxy.host}/${REPOSITORY}:${tag}`;
const tagPath = (tag: string) => `/v2/${REPOSITORY}/manifests/${tag}`;
const sigPath = () => `/v2/${REPOSITORY}/manifests/${cosignTag(scenario.digests.signed, 'sig')}`;
const blobPath = () => `/v2/${REPOSITORY}/blobs/${signature.digest}`;

/** One review of a Pod running the signed image through the fault proxy, by a fresh runtime. */
async function admit(failurePolicy: FailurePolicy, options: { timeout?: string; tag?: string } = {}) {
  const config = readConfig({
    IMAGEGATE_POLICIES: folders[failurePolicy]!,
    IMAGEGATE_INSECURE_REGISTRIES: proxy.host,
  });
  const runtime = createRuntime(config, quietLog);
  const started = performance.now();
  try {
    const result = await handleAdmissionEvent(
      {
        body: JSON.stringify(podReview('faulty', [image(options.tag ?? 'signed')])),
        isBase64Encoded: false,
        queryStringParameters: { timeout: options.timeout ?? '5s' },
      },
      runtime,
    );
    expect(result.statusCode).toBe(200);
    const review = JSON.parse(result.body ?? '') as { response: Answer };
    expect(review.response.uid).toBe('uid-faulty');
    return { response: review.response, ms: performance.now() - started };
  } finally {
    await runtime.close();
  }
}

/** Not trusted: denied under both failure policies, with the verification-failure message. */
async function expectNotTrusted(setup: () => void, reason: string | RegExp, tag = 'signed') {
  for (const failurePolicy of ['Fail', 'Ignore'] as const) {
    proxy.reset();
    setup();
    const { response } = await admit(failurePolicy, { tag });
    expect(response.allowed).toBe(false);
    expect(response.warnings).toBeUndefined();
    const blocked = parseBlocked(response.status?.message) as {
      resource: string;
      tree: { 'check-image': { 'check-image': string } };
    };
    expect(blocked.resource).toBe('Pod/default/faulty');
    const message = blocked.tree['check-image']['check-image'];
    const prefix = `image verification failed for ${image(tag)}: `;
    expect(message.startsWith(prefix)).toBe(true);
    if (typeof reason === 'string') expect(message.slice(prefix.length)).toBe(reason);
    else expect(message.slice(prefix.length)).toMatch(reason);
    expect(message).not.toMatch(/invalid signature|signature not found/);
  }
}

/** Could not check: denied under Fail, admitted with a warning under Ignore; same reason both times. */
async function expectCouldNotCheck(
  setup: () => void,
  reason: string | RegExp,
  options: { timeout?: string } = {},
) {
  const reasons: string[] = [];
  proxy.reset();
  setup();
  const fail = await admit('Fail', options);
  expect(fail.response.allowed).toBe(false);
  const prefix = `could not verify image ${image('signed')}: `;
  const denial = parseBlocked(fail.response.status?.message).tree as Record<string, Record<string, string>>;
  const message = denial['check-image']?.['check-image'] ?? '';
  expect(message.startsWith(prefix)).toBe(true);
  reasons.push(message.slice(prefix.length));

  proxy.reset();
  setup();
  const ignore = await admit('Ignore', options);
  expect(ignore.response.allowed).toBe(true);
  expect(ignore.response.warnings).toHaveLength(1);
  const warning = ignore.response.warnings![0]!;
  const label = `policy check-image.check-image: ${prefix}`;
  const suffix = ' (allowed: failurePolicy is Ignore)';
  expect(warning.startsWith(label) && warning.endsWith(suffix)).toBe(true);
  reasons.push(warning.slice(label.length, -suffix.length));

  for (const text of reasons) {
    if (typeof reason === 'string') expect(text).toBe(reason);
    else expect(text).toMatch(reason);
    expect(text).not.toMatch(/invalid signature|signature not found/);
  }
  return { fail, ignore };
}

/**
 * "Answered at the deadline, not after the fault": five times the review budget of `timeout`, so a
 * loaded machine has room, yet well under what waiting out the fault would take (a 5 s latency,
 * a hang until undici's 10 s header timeout, a 60 s Retry-After). The reason asserted with it is
 * what shows the deadline (or the refused wait) decided.
 */
const withinDeadline = (timeout: string) => 5 * reviewBudgetMs(parseApiServerTimeout(timeout));

const rule = (path: string, fault: Fault, times?: number) => () =>
  proxy.add({ path, fault, ...(times === undefined ? {} : { times }) });

test('without a fault the signed image is admitted through the proxy', async () => {
  const { response } = await admit('Fail');
  expect(response.allowed).toBe(true);
  expect(proxy.count(tagPath('signed'))).toBe(1);
});

describe('latency', () => {
  test('a slow registry within the deadline: admitted', async () => {
    rule(tagPath('signed'), { kind: 'latency', ms: 300 })();
    const { response, ms } = await admit('Fail');
    expect(response.allowed).toBe(true);
    expect(ms).toBeGreaterThanOrEqual(300);
  });

  test('slower than the deadline: could not check (timeout), answered before the API server gives up', async () => {
    const { fail } = await expectCouldNotCheck(
      rule(tagPath('signed'), { kind: 'latency', ms: 5_000 }),
      `registry ${proxy.host} did not answer in time`,
      { timeout: '1s' },
    );
    expect(fail.ms).toBeLessThan(withinDeadline('1s'));
  });
});

describe('error statuses', () => {
  test('500: could not check, not retried', async () => {
    await expectCouldNotCheck(
      rule(tagPath('signed'), { kind: 'status', status: 500 }),
      `registry ${proxy.host} answered HTTP 500 for manifest ${REPOSITORY}:signed`,
    );
    expect(proxy.count(tagPath('signed'))).toBe(1);
  });

  test('503 every time: could not check after two retries', async () => {
    await expectCouldNotCheck(
      rule(tagPath('signed'), { kind: 'status', status: 503 }),
      `registry ${proxy.host} answered HTTP 503 for manifest ${REPOSITORY}:signed`,
    );
    expect(proxy.count(tagPath('signed'))).toBe(3);
  });

  test('503 once: retried after a backoff and admitted', async () => {
    rule(tagPath('signed'), { kind: 'status', status: 503 }, 1)();
    const { response } = await admit('Fail');
    expect(response.allowed).toBe(true);
    expect(proxy.count(tagPath('signed'))).toBe(2);
  });

  test('502 and 504 on the signature manifest: retried, then could not check', async () => {
    await expectCouldNotCheck(
      rule(sigPath(), { kind: 'status', status: 502 }),
      new RegExp(
        `registry ${proxy.host} answered HTTP 502 for manifest ${REPOSITORY}:sha256-[0-9a-f]{64}\\.sig`,
      ),
    );
    expect(proxy.count(sigPath())).toBe(3);
    await expectCouldNotCheck(
      rule(sigPath(), { kind: 'status', status: 504 }),
      new RegExp(`registry ${proxy.host} answered HTTP 504 for manifest`),
    );
  });

  test('429 with Retry-After: 1 is honoured: one retry a second later, admitted', async () => {
    rule(tagPath('signed'), { kind: 'status', status: 429, headers: { 'retry-after': '1' } }, 1)();
    const { response, ms } = await admit('Fail');
    expect(response.allowed).toBe(true);
    expect(proxy.count(tagPath('signed'))).toBe(2);
    expect(ms).toBeGreaterThanOrEqual(1_000);
  });

  test('429 with a Retry-After past the deadline: not waited for, could not check at once', async () => {
    const { fail } = await expectCouldNotCheck(
      rule(tagPath('signed'), { kind: 'status', status: 429, headers: { 'retry-after': '60' } }),
      `registry ${proxy.host} answered HTTP 429 for manifest ${REPOSITORY}:signed`,
    );
    expect(proxy.count(tagPath('signed'))).toBe(1);
    expect(fail.ms).toBeLessThan(withinDeadline('5s'));
  });

  test('429 with a Retry-After that fits the wait limit but not the API server deadline: not waited for', async () => {
    // timeout=2s leaves a 1.7 s review budget; a 3 s wait would outlast it.
    const { fail } = await expectCouldNotCheck(
      rule(tagPath('signed'), { kind: 'status', status: 429, headers: { 'retry-after': '3' } }),
      `registry ${proxy.host} answered HTTP 429 for manifest ${REPOSITORY}:signed`,
      { timeout: '2s' },
    );
    // Waiting would have been cut at the deadline ("did not answer in time"), not this HTTP 429,
    // and would have made a second request: the reason and the count show no wait was made.
    expect(proxy.count(tagPath('signed'))).toBe(1);
    expect(fail.ms).toBeLessThan(withinDeadline('2s'));
  });
});

describe('broken connections', () => {
  test('a reset connection: could not check (unreachable)', async () => {
    await expectCouldNotCheck(
      rule(tagPath('signed'), { kind: 'reset' }),
      new RegExp(`^registry ${proxy.host} unreachable \\((ECONNRESET|UND_ERR_SOCKET)\\)$`),
    );
  });

  test('a registry that never answers: could not check (timeout) within the deadline', async () => {
    const { fail, ignore } = await expectCouldNotCheck(
      rule(tagPath('signed'), { kind: 'hang' }),
      `registry ${proxy.host} did not answer in time`,
      { timeout: '1s' },
    );
    expect(fail.ms).toBeLessThan(withinDeadline('1s'));
    expect(ignore.ms).toBeLessThan(withinDeadline('1s'));
  });

  test('a manifest cut short: not trusted, even under failurePolicy Ignore', async () => {
    await expectNotTrusted(
      rule(tagPath('signed'), { kind: 'truncate' }),
      new RegExp(
        `^registry ${proxy.host} cut the body of /v2/${REPOSITORY}/manifests/signed short \\(\\d+ of ${signedManifest.length} bytes\\)$`,
      ),
    );
  });

  test('a signature payload cut short: not trusted, even under failurePolicy Ignore', async () => {
    await expectNotTrusted(
      rule(blobPath(), { kind: 'truncate', bytes: 10 }),
      `registry ${proxy.host} cut the body of ${blobPath()} short (10 of ${signature.payload.length} bytes)`,
    );
  });
});

describe('content that does not match its digest', () => {
  test('a tag manifest whose bytes are not the announced digest: not trusted, even under Ignore', async () => {
    await expectNotTrusted(
      rule(tagPath('signed'), { kind: 'digest-mismatch' }),
      `registry ${proxy.host} announced digest ${scenario.digests.signed} but served bytes with digest ${sha256(
        Buffer.concat([signedManifest, Buffer.from(' ')]),
      )}`,
    );
  });

  test('a manifest fetched by digest whose bytes are another digest: refused as not trusted', async () => {
    // Reviews pin by the tag's manifest; the client checks every by-digest fetch the same way.
    const transport = new UndiciTransport();
    const client = new RegistryClient({ transport, insecureRegistries: [proxy.host] });
    const digest = scenario.digests.signed;
    rule(`/manifests/${digest}`, {
      kind: 'rewrite',
      body: (bytes) => Buffer.concat([bytes, Buffer.from('\n')]),
      dropHeaders: ['docker-content-digest'],
    })();
    try {
      const fetched = client.getManifest(proxy.host, REPOSITORY, digest);
      await expect(fetched).rejects.toThrow(RegistryContentError);
      await expect(fetched).rejects.toMatchObject({
        code: 'DIGEST_MISMATCH',
        message: `registry ${proxy.host} served manifest bytes with digest ${sha256(
          Buffer.concat([signedManifest, Buffer.from('\n')]),
        )} for ${REPOSITORY}@${digest}`,
      });
      proxy.reset();
      await expect(client.getManifest(proxy.host, REPOSITORY, digest)).resolves.toMatchObject({ digest });
    } finally {
      await transport.close();
    }
  });

  test('a signature payload blob whose bytes are not its digest: not trusted', async () => {
    await expectNotTrusted(
      rule(blobPath(), { kind: 'digest-mismatch' }),
      `registry ${proxy.host} served blob bytes with digest ${sha256(
        Buffer.concat([signature.payload, Buffer.from(' ')]),
      )} for ${REPOSITORY}@${signature.digest}`,
    );
  });

  test('a manifest of an unexpected media type: not trusted', async () => {
    await expectNotTrusted(
      rule(tagPath('signed'), {
        kind: 'rewrite',
        body: (bytes) => {
          const json = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
          return JSON.stringify({ ...json, mediaType: 'application/vnd.example.evil+json' });
        },
        dropHeaders: ['docker-content-digest'],
      }),
      `registry ${proxy.host} served ${REPOSITORY}:signed with unexpected media type application/vnd.example.evil+json`,
    );
  });
});

describe('huge bodies', () => {
  test('a manifest announcing 64 MiB: refused from its headers, not trusted', async () => {
    await expectNotTrusted(
      rule(tagPath('signed'), { kind: 'huge', bytes: 64 * 1024 * 1024 }),
      `registry ${proxy.host} sent more than ${4 * 1024 * 1024} bytes for /v2/${REPOSITORY}/manifests/signed`,
    );
  });

  test('a chunked signature manifest without a length: cut off at the cap, not trusted', async () => {
    await expectNotTrusted(
      rule(sigPath(), { kind: 'huge', bytes: 64 * 1024 * 1024, chunked: true }),
      `registry ${proxy.host} sent more than ${4 * 1024 * 1024} bytes for ${sigPath()}`,
    );
  });

  test('a signature payload over 1 MiB: not trusted', async () => {
    await expectNotTrusted(
      rule(blobPath(), { kind: 'huge', bytes: 2 * 1024 * 1024, chunked: true }),
      `registry ${proxy.host} sent more than ${1024 * 1024} bytes for ${blobPath()}`,
    );
  });
});

test('after every fault above the proxy and registry still serve: the signed image is admitted', async () => {
  const { response } = await admit('Fail');
  expect(response.allowed).toBe(true);
});
