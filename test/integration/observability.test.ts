/**
 * Decision logs and metrics as the deployed function writes them: functions/admit.ts (middy,
 * Powertools Logger and Metrics) against real registries, cluster tokens and registry credentials
 * from a Secrets Manager stand-in, with everything it prints captured. For a mix of allowed,
 * denied, Audit, failurePolicy Ignore and registry-error reviews: exactly one decision record per
 * review with the fields of the issue, valid EMF with the expected values, every metric from the
 * catalogue, and no token or credential anywhere. Then `osls package`: the dashboard and alarms
 * in the template name only metrics the code emits.
 */
import { existsSync } from 'node:fs';
import { readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { join, resolve } from 'node:path';
import type { Context } from 'aws-lambda';
import { awsEnvironment, startFakeAwsJsonEndpoint, type FakeAwsJsonEndpoint } from '../support/aws';
import { signImage } from '../support/cosign-signer';
import { FakeClock } from '../support/fake-clock';
import { httpEvent, loadHandler, type Handler } from '../support/handler';
import { pushImage } from '../support/images';
import { freePort, listenOnLoopback } from '../support/ports';
import { makeTempDir, removeDir, run } from '../support/processes';
import { startRegistry, type TestRegistry } from '../support/registry';
import { podReview, samplePolicy, startKyvernoScenario, type KyvernoScenario } from '../support/scenario';
import { emfMetrics, emfProblems, isEmf, type EmfMetric } from '../support/emf';
import {
  alarmProblems,
  dashboardProblems,
  referenceProblems,
  type InfraSettings,
  type Widget,
} from '../support/infra-check';

const FUNCTION = 'imagegate-test-admit';
const TOKENS = { prod: 'prod-token-5d2c7a91', dev: 'dev-token-e04b3f68' };
const WRONG_TOKEN = 'guessed-token-7f7f7f';
const REGISTRY_USER = { username: 'puller', password: 'registry-pw-93c1d7e2' };
const TOKENS_SECRET = 'imagegate/cluster-tokens';
const CREDENTIALS_SECRET = 'imagegate/registry-auth';

let scenario: KyvernoScenario;
let privateRegistry: TestRegistry;
let awsJson: FakeAwsJsonEndpoint;
let failing: http.Server;
let handler: Handler;
/** The handler's clock: the policy refresh (1 s here) expires by it. */
let clock: FakeClock;
let policyFolder: string;
const hosts = { failing: '', down: '', ignored: '' };
const images = { signed: '', unsigned: '', audited: '', private: '', failing: '', down: '', ignored: '' };
const savedEnv = { ...process.env };
/** Every console call of the handler, in order (POWERTOOLS_DEV routes Logger and Metrics through console). */
const printed: string[] = [];
const spies: jest.SpyInstance[] = [];
/** Every printed record and document over the whole run, for the secrets scan. */
const everything: string[] = [];
const allMetrics: EmfMetric[] = [];

const context = {
  functionName: FUNCTION,
  functionVersion: '$LATEST',
  invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${FUNCTION}`,
  memoryLimitInMB: '1024',
  awsRequestId: 'request-id',
  getRemainingTimeInMillis: () => 28_000,
} as unknown as Context;

interface Printed {
  readonly records: Record<string, unknown>[];
  readonly emf: Record<string, unknown>[];
  readonly text: string;
}

/** One invocation, and what it printed. */
async function invoke(
  review: unknown,
  cluster: keyof typeof TOKENS = 'prod',
  token: string = TOKENS[cluster],
): Promise<{
  status: number;
  body: { response: { uid: string; allowed: boolean; warnings?: string[] } };
  out: Printed;
}> {
  everything.push(...printed); // module initialisation, before the first invocation
  printed.length = 0;
  const result = await handler(httpEvent(JSON.stringify(review), { cluster, token }), context);
  const parsed = printed.map((text) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  });
  const objects = parsed.filter(
    (item): item is Record<string, unknown> => typeof item === 'object' && item !== null,
  );
  return {
    status: result.statusCode ?? 0,
    body: JSON.parse(result.body || '{}') as {
      response: { uid: string; allowed: boolean; warnings?: string[] };
    },
    out: {
      records: objects.filter((item) => !isEmf(item)),
      emf: objects.filter(isEmf),
      text: printed.join('\n'),
    },
  };
}

const decisions = (out: Printed) => out.records.filter((record) => record.record === 'decision');
const metricsOf = (out: Printed) => out.emf.flatMap(emfMetrics);

/** The values of `name` under exactly `dimensions` (service added). */
function valuesOf(out: Printed, name: string, dimensions: Record<string, string>): number[] {
  const wanted = JSON.stringify(Object.entries({ service: FUNCTION, ...dimensions }).sort());
  return metricsOf(out)
    .filter((metric) => metric.name === name)
    .filter((metric) =>
      metric.dimensionSets.some((set) => JSON.stringify(Object.entries(set).sort()) === wanted),
    )
    .flatMap((metric) => metric.values);
}

const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);

afterEach(() => {
  everything.push(...printed);
  for (const text of printed) {
    try {
      const document = JSON.parse(text) as unknown;
      if (isEmf(document)) allMetrics.push(...emfMetrics(document));
    } catch {
      // not JSON: scanned as text only
    }
  }
  printed.length = 0;
});

beforeAll(async () => {
  for (const method of ['debug', 'info', 'log', 'warn', 'error'] as const) {
    spies.push(
      jest.spyOn(console, method).mockImplementation((...args: unknown[]) => {
        printed.push(args.map(String).join(' '));
      }),
    );
  }
  [scenario, privateRegistry, awsJson] = await Promise.all([
    startKyvernoScenario(),
    startRegistry({ htpasswd: REGISTRY_USER }),
    startFakeAwsJsonEndpoint(),
  ]);
  failing = http.createServer((_request, response) => response.writeHead(503).end());
  hosts.failing = await listenOnLoopback(failing);
  hosts.down = `127.0.0.1:${await freePort()}`;
  hosts.ignored = `127.0.0.1:${await freePort()}`;

  const key = scenario.policyKey;
  const [privateDigest] = await Promise.all([
    pushImage(privateRegistry.host, 'team/app', 'signed', { auth: REGISTRY_USER }),
    pushImage(scenario.registry.host, 'audit/app', 'unsigned'),
  ]);
  await signImage(privateRegistry.host, 'team/app', privateDigest, key.privateKey, { auth: REGISTRY_USER });
  Object.assign(images, {
    signed: scenario.image('signed'),
    unsigned: scenario.image('unsigned'),
    audited: `${scenario.registry.host}/audit/app:unsigned`,
    private: `${privateRegistry.host}/team/app:signed`,
    failing: `${hosts.failing}/team/app:1.0`,
    down: `${hosts.down}/team/app:1.0`,
    ignored: `${hosts.ignored}/team/app:1.0`,
  });

  const named = (name: string, text: string) => text.replace('name: check-image', `name: ${name}`);
  policyFolder = await scenario.folderWith({
    'check-image.yaml': samplePolicy('current', `${scenario.registry.host}/kyverno/*`, key.publicKeyPem),
    'audit.yaml': named(
      'audit-images',
      samplePolicy('current', `${scenario.registry.host}/audit/*`, key.publicKeyPem, 'Audit'),
    ),
    'private.yaml': named(
      'private-images',
      samplePolicy('current', `${privateRegistry.host}/*`, key.publicKeyPem),
    ),
    'failing.yaml': named(
      'failing-registry',
      samplePolicy('current', `${hosts.failing}/*`, key.publicKeyPem),
    ),
    'down.yaml': named('down-registry', samplePolicy('current', `${hosts.down}/*`, key.publicKeyPem)),
    'ignored.yaml': named(
      'ignore-outages',
      samplePolicy('current', `${hosts.ignored}/*`, key.publicKeyPem).replace(
        'failurePolicy: Fail',
        'failurePolicy: Ignore',
      ),
    ),
  });

  awsJson.secrets.set(TOKENS_SECRET, JSON.stringify({ prod: { current: TOKENS.prod }, dev: TOKENS.dev }));
  const basic = Buffer.from(`${REGISTRY_USER.username}:${REGISTRY_USER.password}`).toString('base64');
  awsJson.secrets.set(
    CREDENTIALS_SECRET,
    JSON.stringify({ auths: { [privateRegistry.host]: { auth: basic } } }),
  );

  clock = new FakeClock();
  handler = loadHandler(
    {
      ...awsEnvironment({ url: 'http://127.0.0.1:9' }, awsJson),
      POWERTOOLS_DEV: 'true',
      POWERTOOLS_METRICS_DISABLED: 'false',
      AWS_LAMBDA_FUNCTION_NAME: FUNCTION,
      AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
      // Decision records are written whatever the log level.
      IMAGEGATE_LOG_LEVEL: 'ERROR',
      IMAGEGATE_POLICIES: policyFolder,
      IMAGEGATE_POLICY_REFRESH_SECONDS: '1',
      IMAGEGATE_CLUSTER_TOKENS: `secretsmanager://${TOKENS_SECRET}`,
      IMAGEGATE_REGISTRY_CREDENTIALS: `secretsmanager://${CREDENTIALS_SECRET}`,
      IMAGEGATE_INSECURE_REGISTRIES: [
        scenario.registry.host,
        privateRegistry.host,
        hosts.failing,
        hosts.down,
        hosts.ignored,
      ].join(','),
    },
    { restore: false, clock },
  );
}, 60_000);

afterAll(async () => {
  for (const spy of spies) spy.mockRestore();
  process.env = savedEnv;
  await Promise.all([
    scenario?.stop(),
    privateRegistry?.stop(),
    awsJson?.stop(),
    new Promise((done) => failing?.close(done)),
  ]);
});

describe('the handler’s stdout, review by review', () => {
  test('cold start: a cold_start record and the ColdStart metric, then the admitted, pinned signed image', async () => {
    const { body, out } = await invoke(podReview('signed', [images.signed], { uid: 'uid-signed' }));
    expect(body.response.allowed).toBe(true);
    expect(out.records.filter((record) => record.record === 'cold_start')).toEqual([
      expect.objectContaining({
        message: 'cold start',
        policySource: 'folder',
        clusterTokens: true,
        registryCredentialSecrets: 1,
      }),
    ]);
    expect(valuesOf(out, 'ColdStart', { function_name: FUNCTION })).toEqual([1]);
    expect(out.records.filter((record) => record.record === 'policy_load')).toEqual([
      expect.objectContaining({ outcome: 'loaded', cluster: 'prod', location: policyFolder, policies: 6 }),
    ]);

    const [decision, ...others] = decisions(out);
    expect(others).toEqual([]);
    expect(decision).toMatchObject({
      level: 'INFO',
      message: 'admission decision',
      service: FUNCTION,
      cold_start: true,
      function_request_id: 'request-id',
      cluster: 'prod',
      uid: 'uid-signed',
      kind: 'Pod',
      namespace: 'default',
      name: 'signed',
      operation: 'CREATE',
      policySetVersion: expect.stringMatching(/^[0-9a-f]{16}$/),
      allowed: true,
      result: 'allowed',
      pinned: 1,
      durationMs: expect.any(Number),
      images: [
        {
          image: images.signed,
          digest: scenario.digests.signed,
          container: 'c0',
          pointer: '/spec/containers/0/image',
          checks: [
            {
              policy: 'check-image',
              rule: 'check-image',
              status: 'pass',
              action: 'Enforce',
              effect: 'none',
              message: `verified image signatures for ${images.signed}`,
              cacheHit: false,
            },
          ],
        },
      ],
    });

    expect(valuesOf(out, 'admission_requests_total', { request_allowed: 'true' })).toEqual([1]);
    expect(
      valuesOf(out, 'admission_requests_total', {
        cluster: 'prod',
        resource_kind: 'Pod',
        resource_request_operation: 'create',
        request_allowed: 'true',
      }),
    ).toEqual([1]);
    expect(valuesOf(out, 'image_verifications_total', { rule_result: 'pass' })).toEqual([1]);
    expect(valuesOf(out, 'policy_loads_total', {})).toEqual([1]);
    expect(valuesOf(out, 'verification_cache_misses_total', {})).toEqual([1]);
    const [seconds] = valuesOf(out, 'admission_review_duration_seconds', { cluster: 'prod' });
    expect(seconds).toBeCloseTo((decision!.durationMs as number) / 1000, 3);
  });

  test('the same image again: a cache hit, and no cold start', async () => {
    const { out } = await invoke(podReview('again', [images.signed], { uid: 'uid-again' }));
    expect(out.records.filter((record) => record.record === 'cold_start')).toEqual([]);
    expect(decisions(out)).toEqual([
      expect.objectContaining({
        uid: 'uid-again',
        cold_start: false,
        counts: expect.objectContaining({ cacheHits: 1 }),
      }),
    ]);
    expect(valuesOf(out, 'verification_cache_hits_total', {})).toEqual([1]);
    expect(valuesOf(out, 'ColdStart', { function_name: FUNCTION })).toEqual([]);
  });

  test('denied: the unsigned image, with the reason per rule', async () => {
    const { body, out } = await invoke(podReview('unsigned', [images.unsigned], { uid: 'uid-unsigned' }));
    expect(body.response.allowed).toBe(false);
    expect(decisions(out)).toEqual([
      expect.objectContaining({
        uid: 'uid-unsigned',
        allowed: false,
        result: 'denied',
        admittedUnverified: 0,
        images: [
          expect.objectContaining({
            digest: scenario.digests.unsigned,
            checks: [
              expect.objectContaining({
                policy: 'check-image',
                rule: 'check-image',
                status: 'fail',
                effect: 'block',
                message: `image verification failed for ${images.unsigned}: signature not found`,
              }),
            ],
          }),
        ],
      }),
    ]);
    expect(valuesOf(out, 'admission_requests_total', { cluster: 'prod', request_allowed: 'false' })).toEqual([
      1,
    ]);
    expect(
      valuesOf(out, 'image_verifications_total', {
        cluster: 'prod',
        policy_validation_mode: 'enforce',
        rule_result: 'fail',
      }),
    ).toEqual([1]);
    expect(valuesOf(out, 'registry_errors_total', { cluster: 'prod' })).toEqual([]);
    expect(out.records.filter((record) => record.record === 'admitted_unverified')).toEqual([]);
  });

  test('Audit: admitted with a warning, logged and counted as admitted unverified', async () => {
    const { body, out } = await invoke(podReview('audited', [images.audited], { uid: 'uid-audited' }));
    expect(body.response.allowed).toBe(true);
    expect(body.response.warnings).toHaveLength(1);
    const [decision] = decisions(out);
    expect(decisions(out)).toHaveLength(1);
    expect(decision).toMatchObject({ uid: 'uid-audited', result: 'warned', admittedUnverified: 1 });
    const digest = (decision!.images as { digest: string }[])[0]!.digest;
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(out.records.filter((record) => record.record === 'admitted_unverified')).toEqual([
      expect.objectContaining({
        level: 'WARN',
        cluster: 'prod',
        uid: 'uid-audited',
        name: 'audited',
        image: images.audited,
        digest,
        modes: ['audit'],
        failures: [expect.objectContaining({ policy: 'audit-images', action: 'Audit', status: 'fail' })],
      }),
    ]);
    expect(valuesOf(out, 'admitted_unverified_total', { policy_validation_mode: 'audit' })).toEqual([1]);
    expect(
      valuesOf(out, 'admitted_unverified_total', { cluster: 'prod', policy_validation_mode: 'audit' }),
    ).toEqual([1]);
    expect(valuesOf(out, 'admission_warnings_total', { cluster: 'prod' })).toEqual([1]);
    expect(
      valuesOf(out, 'image_verifications_total', {
        cluster: 'prod',
        policy_validation_mode: 'audit',
        rule_result: 'fail',
      }),
    ).toEqual([1]);
  });

  test('registry errors: a 503 and an unreachable registry deny, each classified', async () => {
    const { body, out } = await invoke(
      podReview('outage', [images.failing, images.down], { uid: 'uid-outage' }),
    );
    expect(body.response.allowed).toBe(false);
    const [decision] = decisions(out);
    expect(decisions(out)).toHaveLength(1);
    expect(decision).toMatchObject({ uid: 'uid-outage', result: 'denied', counts: { error: 2 } });
    // Images are listed in the order they were checked (policy order), each with its checks.
    const byImage = new Map(
      (decision!.images as { image: string; checks: unknown[] }[]).map((image) => [
        image.image,
        image.checks,
      ]),
    );
    expect(byImage.get(images.failing)).toEqual([
      expect.objectContaining({
        policy: 'failing-registry',
        status: 'error',
        effect: 'block',
        errorClass: 'http_5xx',
      }),
    ]);
    expect(byImage.get(images.down)).toEqual([
      expect.objectContaining({
        policy: 'down-registry',
        status: 'error',
        effect: 'block',
        errorClass: 'unreachable',
      }),
    ]);
    expect(valuesOf(out, 'registry_errors_total', { error_class: 'http_5xx' })).toEqual([1]);
    expect(valuesOf(out, 'registry_errors_total', { error_class: 'unreachable' })).toEqual([1]);
    expect(sum(valuesOf(out, 'registry_errors_total', { cluster: 'prod' }))).toBe(2);
    expect(valuesOf(out, 'image_verifications_total', { rule_result: 'error' })).toEqual([2]);
  }, 20_000);

  test('failurePolicy Ignore: an unreachable registry is admitted, counted as admitted unverified (enforce)', async () => {
    const { body, out } = await invoke(podReview('ignored', [images.ignored], { uid: 'uid-ignored' }));
    expect(body.response.allowed).toBe(true);
    expect(decisions(out)).toEqual([
      expect.objectContaining({ uid: 'uid-ignored', result: 'warned', admittedUnverified: 1 }),
    ]);
    const unverified = out.records.filter((record) => record.record === 'admitted_unverified');
    expect(unverified).toEqual([expect.objectContaining({ image: images.ignored, modes: ['enforce'] })]);
    // No digest: the tag could not be resolved (Powertools leaves empty fields out of a line).
    expect(unverified[0]).not.toHaveProperty('digest');
    expect(valuesOf(out, 'admitted_unverified_total', { policy_validation_mode: 'enforce' })).toEqual([1]);
    expect(valuesOf(out, 'registry_errors_total', { error_class: 'unreachable' })).toEqual([1]);
  });

  test('a private registry reached with credentials from Secrets Manager; another cluster counts apart', async () => {
    const { body, out } = await invoke(podReview('private', [images.private], { uid: 'uid-private' }), 'dev');
    expect(body.response.allowed).toBe(true);
    expect(decisions(out)).toEqual([
      expect.objectContaining({ uid: 'uid-private', cluster: 'dev', result: 'allowed', pinned: 1 }),
    ]);
    expect(valuesOf(out, 'admission_requests_total', { cluster: 'dev', request_allowed: 'true' })).toEqual([
      1,
    ]);
    expect(valuesOf(out, 'admission_requests_total', { cluster: 'prod', request_allowed: 'true' })).toEqual(
      [],
    );
  });

  test('a wrong token: 401, no decision record, counted as a refused request', async () => {
    const { status, out } = await invoke(podReview('x', [images.signed]), 'prod', WRONG_TOKEN);
    expect(status).toBe(401);
    expect(decisions(out)).toEqual([]);
    expect(valuesOf(out, 'rejected_requests_total', { status_code: '401' })).toEqual([1]);
  });

  test('a policy that stops loading: a policy_load record with the problem, the failure counted, the last good set kept', async () => {
    await writeFile(
      join(policyFolder, 'broken.yaml'),
      'apiVersion: kyverno.io/v1\nkind: ClusterPolicy\nmetadata: [\n',
    );
    clock.advance(1_100);
    const { body, out } = await invoke(podReview('after', [images.signed], { uid: 'uid-after' }));
    expect(body.response.allowed).toBe(true);
    expect(out.records.filter((record) => record.record === 'policy_load')).toEqual([
      expect.objectContaining({
        level: 'ERROR',
        outcome: 'failed',
        cluster: 'prod',
        kept: expect.stringMatching(/^[0-9a-f]{16}$/),
        problems: [expect.stringContaining('broken.yaml')],
      }),
    ]);
    expect(valuesOf(out, 'policy_load_failures_total', {})).toEqual([1]);
    expect(decisions(out)).toHaveLength(1);
  });
});

describe('over the whole run', () => {
  test('every EMF document is valid, and every metric is a catalogue metric with catalogue dimensions', () => {
    const documents = everything.flatMap((text) => {
      try {
        const document = JSON.parse(text) as unknown;
        return isEmf(document) ? [document] : [];
      } catch {
        return [];
      }
    });
    expect(documents.length).toBeGreaterThan(20);
    for (const document of documents) expect(emfProblems(document)).toEqual([]);
    const settings: InfraSettings = {
      stage: 'test',
      region: 'us-east-1',
      clusters: ['prod', 'dev'],
      functionName: FUNCTION,
      service: FUNCTION,
      lambdaTimeoutSeconds: 28,
    };
    for (const metric of allMetrics) {
      expect(metric.namespace).toBe('imagegate');
      for (const dimensions of metric.dimensionSets) {
        expect(
          referenceProblems({ namespace: metric.namespace, name: metric.name, dimensions }, settings),
        ).toEqual([]);
      }
    }
  });

  test('nothing but imagegate’s own records is logged at WARN or above (no Powertools complaints)', () => {
    const loud = everything
      .map((text) => {
        try {
          return JSON.parse(text) as Record<string, unknown>;
        } catch {
          return { level: 'WARN', message: text };
        }
      })
      .filter((record) => !('_aws' in record) && record.level !== 'INFO' && record.level !== 'DEBUG');
    expect(loud.map((record) => `${String(record.record)}: ${String(record.message)}`).sort()).toEqual([
      'admitted_unverified: image admitted unverified',
      'admitted_unverified: image admitted unverified',
      'policy_load: policy set not loaded',
    ]);
  });

  test('no token, password or credential appears in anything the function printed', () => {
    const text = everything.join('\n');
    expect(text).toContain('admission decision');
    const basic = Buffer.from(`${REGISTRY_USER.username}:${REGISTRY_USER.password}`).toString('base64');
    for (const secret of [TOKENS.prod, TOKENS.dev, WRONG_TOKEN, REGISTRY_USER.password, basic]) {
      expect(text).not.toContain(secret);
    }
  });
});

describe('osls package: the dashboard and the alarms', () => {
  const repoRoot = resolve(__dirname, '..', '..');
  const node22 = join(repoRoot, 'node_modules', 'node', 'bin', 'node');
  let template: {
    Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
    Outputs: Record<string, unknown>;
  };
  const settings: InfraSettings = {
    stage: 'prod',
    region: 'eu-west-1',
    clusters: ['prod-eu-1', 'prod-us-1'],
    functionName: 'imagegate-prod-admit',
    service: 'imagegate-prod-admit',
    lambdaTimeoutSeconds: 28,
  };

  beforeAll(async () => {
    const out = await makeTempDir('package');
    const buildDir = join('.esbuild', `observability-${process.pid}`);
    const env: NodeJS.ProcessEnv = {};
    for (const [name, value] of Object.entries(savedEnv)) {
      if (!name.startsWith('IMAGEGATE_') && !name.startsWith('AWS_')) env[name] = value;
    }
    Object.assign(env, {
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      SLS_TELEMETRY_DISABLED: '1',
      SLS_NOTIFICATIONS_MODE: 'off',
      IMAGEGATE_BUILD_DIR: buildDir,
    });
    try {
      const result = await run(
        existsSync(node22) ? node22 : process.execPath,
        [
          join(repoRoot, 'node_modules', 'osls', 'bin', 'serverless.js'),
          'package',
          '--package',
          out,
          '--stage',
          'prod',
          '--region',
          settings.region,
          '--param=policyBucket=acme-imagegate',
          '--param=clusterTokenSecretArn=imagegate/cluster-tokens',
          `--param=clusters=${settings.clusters.join(',')}`,
        ],
        { cwd: repoRoot, env, timeoutMs: 90_000 },
      );
      if (result.code !== 0) throw new Error(`osls package failed:\n${result.stdout}\n${result.stderr}`);
      template = JSON.parse(
        await readFile(join(out, 'cloudformation-template-update-stack.json'), 'utf8'),
      ) as typeof template;
    } finally {
      await removeDir(out);
      await rm(join(repoRoot, buildDir), { recursive: true, force: true });
      await rmdir(join(repoRoot, '.esbuild')).catch(() => undefined);
    }
  }, 120_000);

  const ofType = (type: string) =>
    Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);

  test('the dashboard imagegate-prod names only emitted metrics, for the listed clusters', () => {
    const [[, dashboard] = []] = ofType('AWS::CloudWatch::Dashboard');
    expect(dashboard?.Properties.DashboardName).toBe('imagegate-prod');
    const text = (dashboard?.Properties.DashboardBody as { 'Fn::Sub': string })['Fn::Sub'];
    const body = JSON.parse(
      text
        .replaceAll('${AWS::AccountId}', '123456789012')
        .replaceAll('${AWS::Partition}', 'aws')
        .replaceAll('${!', '${'),
    ) as { widgets: Widget[] };
    expect(dashboardProblems(body, settings)).toEqual([]);
    expect(JSON.stringify(body)).toContain('"cluster","prod-us-1"');
    expect(template.Outputs).toHaveProperty('DashboardUrl');
  });

  test('the alarms read emitted metrics and notify the stack’s topic', () => {
    const alarms = ofType('AWS::CloudWatch::Alarm').map(([, alarm]) => alarm.Properties);
    expect(alarms.map((alarm) => alarm.AlarmName)).toEqual([
      'imagegate-prod-denials-spike',
      'imagegate-prod-denials-spike-prod-eu-1',
      'imagegate-prod-denials-spike-prod-us-1',
      'imagegate-prod-registry-error-rate',
      'imagegate-prod-policy-load-failure',
      'imagegate-prod-review-duration-p99',
      'imagegate-prod-lambda-duration-p99',
      'imagegate-prod-lambda-errors',
      'imagegate-prod-lambda-throttles',
    ]);
    for (const alarm of alarms) {
      expect(alarmProblems(alarm as unknown as Parameters<typeof alarmProblems>[0], settings)).toEqual([]);
      expect(alarm.AlarmActions).toEqual([{ Ref: 'AlarmTopic' }]);
      expect(alarm.OKActions).toEqual([{ Ref: 'AlarmTopic' }]);
    }
    expect(ofType('AWS::SNS::Topic').map(([id, topic]) => [id, topic.Properties.TopicName])).toEqual([
      ['AlarmTopic', 'imagegate-prod-alarms'],
    ]);
    expect(template.Outputs).toHaveProperty('AlarmTopicArn');
  });

  test('a cluster that is not a DNS label stops the package', async () => {
    const env: NodeJS.ProcessEnv = {
      ...savedEnv,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      SLS_TELEMETRY_DISABLED: '1',
    };
    for (const name of Object.keys(env)) if (name.startsWith('IMAGEGATE_')) delete env[name];
    const result = await run(
      existsSync(node22) ? node22 : process.execPath,
      [
        join(repoRoot, 'node_modules', 'osls', 'bin', 'serverless.js'),
        'print',
        '--stage',
        'prod',
        '--param=policyBucket=acme-imagegate',
        '--param=clusterTokenSecretArn=imagegate/cluster-tokens',
        '--param=clusters=prod-eu-1,Prod_EU_2',
      ],
      { cwd: repoRoot, env, timeoutMs: 60_000 },
    );
    expect(result.code).not.toBe(0);
    expect(result.stdout + result.stderr).toContain(
      'stage parameter clusters: "Prod_EU_2" is not a cluster name',
    );
  }, 60_000);
});
