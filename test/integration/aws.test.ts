/**
 * imagegate on AWS, against local stand-ins the real AWS SDK talks to: s3rver for the policy
 * bucket (behind a counting proxy), an awsJson1.1 endpoint for Secrets Manager and ECR, a plain
 * and an htpasswd-protected registry, and a "trap" registry that records what it is sent.
 */
import http from 'node:http';
import { DeleteObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ECRClient } from '@aws-sdk/client-ecr';
import { readConfig } from '../../lib/config';
import { ECR_CACHE_LIMITS, EcrCredentials } from '../../lib/aws/ecr';
import { createRuntime } from '../../lib/runtime';
import { answerAdmissionReview } from '../../lib/review/webhook';
import { UndiciTransport } from '../../lib/oci/transport';
import {
  awsEnvironment,
  ecrPassword,
  startFakeAwsJsonEndpoint,
  startFakeS3,
  type FakeAwsJsonEndpoint,
  type FakeS3,
} from '../support/aws';
import { signImage } from '../support/cosign-signer';
import { FakeClock } from '../support/fake-clock';
import { httpEvent, lambdaContext, loadHandler, type Handler } from '../support/handler';
import { pushImage } from '../support/images';
import {
  startCountingProxy,
  startRegistry,
  type CountingProxy,
  type TestRegistry,
} from '../support/registry';
import {
  blockedText,
  parseBlocked,
  podReview,
  samplePolicy,
  startKyvernoScenario,
  type KyvernoScenario,
} from '../support/scenario';
import { listenOnLoopback } from '../support/ports';
import type { RegistryTransport } from '../../lib/ports';

const PREFIX = 'imagegate';
const TOKENS_SECRET = 'imagegate/cluster-tokens';
const CREDENTIALS_SECRET = 'imagegate/registry-auth';
const REGISTRY_USER = { username: 'puller', password: 'registry-secret-pw-7f3a' };
const TOKENS = { prod: 'prod-token-0c6d1e', dev: 'dev-token-91ab44', rotated: 'prod-token-2-55e0f7' };

let scenario: KyvernoScenario;
let privateRegistry: TestRegistry;
let s3: FakeS3;
let s3Proxy: CountingProxy;
let awsJson: FakeAwsJsonEndpoint;
let trap: { host: string; authorizations: string[]; requests: number; server: http.Server };
let s3Client: S3Client;
let handler: Handler;
/** The handler's clock: the secret cache and the policy refresh (both 1 s here) expire by it. */
let clock: FakeClock;
let privateImages: { signed: string; unsigned: string };
const savedEnv = { ...process.env };
/** Everything the handler logs (POWERTOOLS_DEV makes the logger write through the global console). */
const logLines: string[] = [];
const consoleSpies: jest.SpyInstance[] = [];

async function putPolicy(key: string, body: string): Promise<void> {
  await s3Client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `${PREFIX}/${key}`, Body: body }));
}

async function admit(cluster: string | undefined, token: string | undefined, review: unknown) {
  const result = await handler(httpEvent(JSON.stringify(review), { cluster, token }), lambdaContext);
  return { status: result.statusCode, body: result.body ?? '' };
}

async function admitted(cluster: string, review: unknown) {
  const { status, body } = await admit(cluster, TOKENS[cluster as 'prod' | 'dev'], review);
  expect(status).toBe(200);
  return (
    JSON.parse(body) as { response: { allowed: boolean; warnings?: string[]; status?: { message: string } } }
  ).response;
}

beforeAll(async () => {
  for (const method of ['debug', 'info', 'log', 'warn', 'error'] as const) {
    consoleSpies.push(
      jest.spyOn(console, method).mockImplementation((...args: unknown[]) => {
        logLines.push(args.map(String).join(' '));
      }),
    );
  }
  [scenario, privateRegistry, s3, awsJson] = await Promise.all([
    startKyvernoScenario(),
    startRegistry({ htpasswd: REGISTRY_USER }),
    startFakeS3(),
    startFakeAwsJsonEndpoint(),
  ]);
  s3Proxy = await startCountingProxy(new URL(s3.url).host);

  const authorizations: string[] = [];
  const server = http.createServer((request, response) => {
    trap.requests++;
    if (request.headers.authorization) authorizations.push(request.headers.authorization);
    response.writeHead(401, { 'www-authenticate': 'Basic realm="trap"' }).end();
  });
  trap = { host: await listenOnLoopback(server), authorizations, requests: 0, server };

  const auth = REGISTRY_USER;
  const [signed] = await Promise.all([
    pushImage(privateRegistry.host, 'team/app', 'signed', { auth }),
    pushImage(privateRegistry.host, 'team/app', 'unsigned', { auth }),
  ]);
  await signImage(privateRegistry.host, 'team/app', signed, scenario.policyKey.privateKey, { auth });
  privateImages = {
    signed: `${privateRegistry.host}/team/app:signed`,
    unsigned: `${privateRegistry.host}/team/app:unsigned`,
  };

  awsJson.secrets.set(TOKENS_SECRET, JSON.stringify({ prod: { current: TOKENS.prod }, dev: TOKENS.dev }));
  awsJson.secrets.set(
    CREDENTIALS_SECRET,
    JSON.stringify({
      auths: {
        [privateRegistry.host]: { auth: Buffer.from(`${auth.username}:${auth.password}`).toString('base64') },
      },
    }),
  );

  s3Client = new S3Client({
    endpoint: s3.url,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const key = scenario.policyKey.publicKeyPem;
  await putPolicy(
    'common/check-image.yaml',
    samplePolicy('current', `${scenario.registry.host}/kyverno/*`, key),
  );
  await putPolicy(
    'clusters/prod/private.yaml',
    samplePolicy('current', `${privateRegistry.host}/*`, key).replace(
      'name: check-image',
      'name: private-images',
    ),
  );
  await putPolicy(
    'clusters/prod/trap.yaml',
    samplePolicy('current', `${trap.host}/*`, key).replace('name: check-image', 'name: trap-images'),
  );
  await putPolicy('README.md', 'not a policy: ignored by extension');

  // The SDK reads endpoints lazily, so this environment stays until afterAll.
  clock = new FakeClock();
  handler = loadHandler(
    {
      ...awsEnvironment({ url: s3Proxy.url }, awsJson),
      POWERTOOLS_DEV: 'true',
      IMAGEGATE_POLICIES: `s3://${s3.bucket}/${PREFIX}`,
      IMAGEGATE_POLICY_REFRESH_SECONDS: '1',
      IMAGEGATE_SECRET_CACHE_SECONDS: '1',
      IMAGEGATE_CLUSTER_TOKENS: `secretsmanager://${TOKENS_SECRET}`,
      IMAGEGATE_REGISTRY_CREDENTIALS: `secretsmanager://${CREDENTIALS_SECRET}`,
      IMAGEGATE_INSECURE_REGISTRIES: [scenario.registry.host, privateRegistry.host, trap.host].join(','),
    },
    { restore: false, clock },
  );
}, 60_000);

afterAll(async () => {
  for (const spy of consoleSpies) spy.mockRestore();
  process.env = savedEnv;
  await Promise.all([
    scenario?.stop(),
    privateRegistry?.stop(),
    s3Proxy?.stop(),
    awsJson?.stop(),
    new Promise((resolve) => trap?.server.close(resolve)),
  ]);
  await s3?.stop();
});

describe('cluster tokens', () => {
  const review = () => podReview('any', ['nginx:1.27']);

  test.each([
    ['a wrong token', 'prod', 'not-the-token'],
    ['another cluster’s token', 'prod', TOKENS.dev],
    ['an unknown cluster', 'staging', TOKENS.prod],
    ['no token (the keyless route)', undefined, undefined],
  ])('%s gets 401 with no body', async (_name, cluster, token) => {
    const { status, body } = await admit(cluster, token, review());
    expect(status).toBe(401);
    expect(body).toBe('');
  });

  test('the right token is answered', async () => {
    expect((await admitted('prod', review())).allowed).toBe(true);
  });

  test('a rotated token is accepted, and the previous one until it is dropped (within the secret cache time)', async () => {
    awsJson.secrets.set(
      TOKENS_SECRET,
      JSON.stringify({ prod: { current: TOKENS.rotated, previous: TOKENS.prod }, dev: TOKENS.dev }),
    );
    clock.advance(1_100);
    expect((await admit('prod', TOKENS.rotated, review())).status).toBe(200);
    expect((await admit('prod', TOKENS.prod, review())).status).toBe(200);

    awsJson.secrets.set(
      TOKENS_SECRET,
      JSON.stringify({ prod: { current: TOKENS.rotated }, dev: TOKENS.dev }),
    );
    clock.advance(1_100);
    expect((await admit('prod', TOKENS.prod, review())).status).toBe(401);
    expect((await admit('prod', TOKENS.rotated, review())).status).toBe(200);
    TOKENS.prod = TOKENS.rotated;
  });

  test('a token never appears in the logs', async () => {
    logLines.length = 0;
    await admit('prod', 'guessed-token-123', review());
    await admit('prod', TOKENS.prod, podReview('x', [scenario.image('unsigned')]));
    const text = logLines.join('\n');
    expect(text).toContain('wrong cluster token');
    for (const secret of ['guessed-token-123', TOKENS.prod, TOKENS.dev, REGISTRY_USER.password]) {
      expect(text).not.toContain(secret);
    }
  });
});

describe('policies from S3', () => {
  test('two clusters, one bucket: common policies apply to both, clusters/<name>/ to one', async () => {
    const unsigned = await admitted('prod', podReview('p1', [privateImages.unsigned]));
    expect(parseBlocked(unsigned.status?.message)).toEqual({
      resource: 'Pod/default/p1',
      tree: {
        'private-images': {
          'check-image': `image verification failed for ${privateImages.unsigned}: signature not found`,
        },
      },
    });
    expect((await admitted('dev', podReview('d1', [privateImages.unsigned]))).allowed).toBe(true);

    const kyvernoUnsigned = scenario.image('unsigned');
    for (const cluster of ['prod', 'dev']) {
      const response = await admitted(cluster, podReview('k', [kyvernoUnsigned]));
      expect(parseBlocked(response.status?.message)).toEqual(
        blockedText('k', `image verification failed for ${kyvernoUnsigned}: signature not found`),
      );
    }
  });

  test('registry credentials from Secrets Manager open the htpasswd registry', async () => {
    const response = await admitted('prod', podReview('p2', [privateImages.signed]));
    expect(response.allowed).toBe(true);
  });

  test('credentials go only to their own host: the trap registry never receives them', async () => {
    const image = `${trap.host}/team/app:1`;
    const response = await admitted('prod', podReview('trap', [image]));
    expect(response.allowed).toBe(false);
    expect(parseBlocked(response.status?.message).tree).toEqual({
      'trap-images': {
        'check-image': `could not verify image ${image}: registry ${trap.host} refused access to manifest team/app:1`,
      },
    });
    expect(trap.requests).toBeGreaterThan(0);
    expect(trap.authorizations).toEqual([]);
  });

  test('an unchanged bucket costs one listing per prefix and no download', async () => {
    await admitted('prod', podReview('warm', ['nginx']));
    clock.advance(1_100);
    s3Proxy.reset();
    await admitted('prod', podReview('again', ['nginx']));
    const requests = s3Proxy.requests();
    // Two ListObjectsV2 (common/ and clusters/prod/), no GetObject.
    expect(requests).toEqual([`GET /${s3.bucket}/`, `GET /${s3.bucket}/`]);
  });

  test('a policy change is picked up within the refresh interval', async () => {
    const image = privateImages.unsigned;
    expect((await admitted('prod', podReview('before', [image]))).allowed).toBe(false);
    await putPolicy(
      'clusters/prod/private.yaml',
      samplePolicy('current', `${privateRegistry.host}/*`, scenario.policyKey.publicKeyPem, 'Audit').replace(
        'name: check-image',
        'name: private-images',
      ),
    );
    clock.advance(1_100);
    s3Proxy.reset();
    const after = await admitted('prod', podReview('after', [image]));
    expect(after.allowed).toBe(true);
    expect(after.warnings).toEqual([
      `policy private-images.check-image: image verification failed for ${image}: signature not found`,
    ]);
    expect(s3Proxy.requests().filter((request) => request.includes('private.yaml'))).toHaveLength(1);
  });

  test('a broken upload keeps the last good set and is logged with file and field path', async () => {
    logLines.length = 0;
    try {
      await putPolicy(
        'clusters/prod/broken.yaml',
        'apiVersion: kyverno.io/v1\nkind: ClusterPolicy\nmetadata: {name: b}\nspec:\n  rules: 7\n',
      );
      clock.advance(1_100);
      const response = await admitted('prod', podReview('kept', [privateImages.unsigned]));
      expect(response.allowed).toBe(true);
      expect(response.warnings?.[0]).toContain('policy private-images.check-image');
    } finally {
      await s3Client.send(
        new DeleteObjectCommand({ Bucket: s3.bucket, Key: `${PREFIX}/clusters/prod/broken.yaml` }),
      );
    }
    const failure = logLines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((record) => record.message === 'policy set not loaded');
    expect(failure).toMatchObject({
      level: 'ERROR',
      cluster: 'prod',
      problems: [`${PREFIX}/clusters/prod/broken.yaml:5 spec.rules: must be a list, got number 7`],
    });
  });
});

describe('ECR', () => {
  const account = '123456789012';
  const ecrHost = `${account}.dkr.ecr.us-east-1.amazonaws.com`;

  test('one GetAuthorizationToken serves many concurrent and later lookups', async () => {
    const before = awsJson.calls('ecr.GetAuthorizationToken');
    const ecr = new EcrCredentials(
      (region) => new ECRClient({ region, endpoint: awsJson.url, maxAttempts: 1 }),
    );
    const results = await Promise.all(Array.from({ length: 50 }, () => ecr.lookup(ecrHost)));
    for (let i = 0; i < 20; i++) results.push(await ecr.lookup(ecrHost));
    expect(new Set(results.map((credential) => JSON.stringify(credential)))).toEqual(
      new Set([JSON.stringify({ username: 'AWS', password: ecrPassword(account) })]),
    );
    expect(awsJson.calls('ecr.GetAuthorizationToken') - before).toBe(1);
    expect(await ecr.lookup('ghcr.io')).toBeUndefined();
  });

  test('regions named by image references keep at most ECR_CACHE_LIMITS.regions clients', async () => {
    const made: string[] = [];
    const ecr = new EcrCredentials((region) => {
      made.push(region);
      return new ECRClient({ region, endpoint: awsJson.url, maxAttempts: 1 });
    });
    const regions = Array.from({ length: ECR_CACHE_LIMITS.regions + 10 }, (_, i) => `xx-test-${i}`);
    const host = (region: string | undefined) => `${account}.dkr.ecr.${region ?? ''}.amazonaws.com`;
    for (const region of regions) await ecr.lookup(host(region));
    expect(made).toHaveLength(regions.length);

    // A refused token is fetched again: the oldest region's client was dropped, so a new one is made…
    ecr.invalidate(host(regions[0]));
    await ecr.lookup(host(regions[0]));
    expect(made).toHaveLength(regions.length + 1);
    // …while the newest region's client was kept.
    ecr.invalidate(host(regions.at(-1)));
    await ecr.lookup(host(regions.at(-1)));
    expect(made).toHaveLength(regions.length + 1);
  });

  test('an ECR image is verified with the role’s token, fetched once for many reviews', async () => {
    const ecrRegistry = await startRegistry({
      htpasswd: { username: 'AWS', password: ecrPassword(account) },
    });
    try {
      const auth = { username: 'AWS', password: ecrPassword(account) };
      const digest = await pushImage(ecrRegistry.host, 'team/app', 'v1', { auth });
      await signImage(ecrRegistry.host, 'team/app', digest, scenario.policyKey.privateKey, { auth });
      const folder = await scenario.folderWith({
        'ecr.yaml': samplePolicy('current', `${ecrHost}/*`, scenario.policyKey.publicKeyPem),
      });
      // The ECR host name is routed to the local registry; everything else is the real code path.
      const undici = new UndiciTransport();
      const transport: RegistryTransport = {
        send: (request) => {
          const url = new URL(request.url);
          if (url.host === ecrHost) url.host = ecrRegistry.host;
          return undici.send({ ...request, url });
        },
      };
      const config = readConfig({ IMAGEGATE_POLICIES: folder, IMAGEGATE_INSECURE_REGISTRIES: ecrHost });
      const log = { info: () => undefined, warn: () => undefined, error: () => undefined };
      const runtime = createRuntime(config, log, {
        transport,
        aws: () => ({
          policyStore: () => {
            throw new Error('not used');
          },
          secrets: () => {
            throw new Error('not used');
          },
          trustRootDocuments: () => {
            throw new Error('not used');
          },
          ecrCredentials: () =>
            new EcrCredentials((region) => new ECRClient({ region, endpoint: awsJson.url, maxAttempts: 1 })),
        }),
      });
      const before = awsJson.calls('ecr.GetAuthorizationToken');
      const answers = await Promise.all(
        Array.from({ length: 10 }, (_, index) =>
          answerAdmissionReview(podReview(`ecr-${index}`, [`${ecrHost}/team/app:v1`]), runtime),
        ),
      );
      expect(answers.map((answer) => answer.response.allowed)).toEqual(Array(10).fill(true));
      expect(awsJson.calls('ecr.GetAuthorizationToken') - before).toBe(1);
      await undici.close();
    } finally {
      await ecrRegistry.stop();
    }
  });
});
