/**
 * `imagegate webhook-config` as a user runs it: the bundled CLI in a child process, its YAML read
 * back by kubectl with no cluster (KUBECONFIG is an empty file).
 *
 * `kubectl apply --dry-run=client` and `kubectl create --dry-run=client` cannot run offline: both
 * download the server's OpenAPI document to validate, and with --validate=false they still need
 * API discovery to map the kind to a resource ("connection to localhost:8080 refused"). The
 * `--local` commands need neither, so `kubectl patch --local -f - --type=merge -p {} -o json`
 * (an empty patch) is the offline check: kubectl's own YAML reader (YAML 1.1, where `no` is a
 * boolean) must read back exactly the object we meant, field by field.
 */
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import {
  buildWebhookConfiguration,
  WEBHOOK_NAME,
  type MutatingWebhookConfiguration,
} from '../../lib/cli/webhook-config';
import { makeTempDir, removeDir, run, runChecked } from '../support/processes';

const repoRoot = resolve(__dirname, '..', '..');
const cli = join(repoRoot, 'bin', 'imagegate.cjs');
const API = 'https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com';
const TOKEN = '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08';

let work: string;
let kubeconfig: string;

beforeAll(async () => {
  await runChecked(process.execPath, [join(repoRoot, 'scripts', 'build-cli.mjs')], { cwd: repoRoot });
  work = await makeTempDir('webhook-config');
  kubeconfig = join(work, 'kubeconfig');
  await writeFile(kubeconfig, '');
});

afterAll(async () => {
  if (work) await removeDir(work);
});

async function imagegate(args: string[], options: { input?: string; env?: Record<string, string> } = {}) {
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env };
  if (!options.env?.IMAGEGATE_TOKEN) delete env.IMAGEGATE_TOKEN;
  return run(process.execPath, [cli, 'webhook-config', ...args], {
    cwd: repoRoot,
    input: options.input,
    env,
  });
}

/** The YAML as kubectl reads it, as JSON. */
async function kubectlRead(yaml: string): Promise<MutatingWebhookConfiguration> {
  const result = await runChecked(
    'kubectl',
    ['patch', '--local', '-f', '-', '--type=merge', '-p', '{}', '-o', 'json'],
    { input: yaml, env: { ...process.env, KUBECONFIG: kubeconfig }, timeoutMs: 20_000 },
  );
  return JSON.parse(result.stdout) as MutatingWebhookConfiguration;
}

const RULES = [
  {
    apiGroups: [''],
    apiVersions: ['v1'],
    operations: ['CREATE', 'UPDATE'],
    resources: ['pods', 'pods/ephemeralcontainers', 'replicationcontrollers'],
    scope: 'Namespaced',
  },
  {
    apiGroups: ['apps'],
    apiVersions: ['v1'],
    operations: ['CREATE', 'UPDATE'],
    resources: ['deployments', 'statefulsets', 'daemonsets', 'replicasets'],
    scope: 'Namespaced',
  },
  {
    apiGroups: ['batch'],
    apiVersions: ['v1'],
    operations: ['CREATE', 'UPDATE'],
    resources: ['jobs', 'cronjobs'],
    scope: 'Namespaced',
  },
];

describe('imagegate webhook-config', () => {
  test('defaults, token from IMAGEGATE_TOKEN: every field as kubectl reads it', async () => {
    const result = await imagegate(['--url', `${API}/`, '--cluster', 'prod-eu-1'], {
      env: { IMAGEGATE_TOKEN: TOKEN },
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^# imagegate webhook for cluster prod-eu-1/);

    const object = await kubectlRead(result.stdout);
    expect(object).toEqual(parse(result.stdout));
    expect(object).toEqual(buildWebhookConfiguration({ url: API, cluster: 'prod-eu-1', token: TOKEN }));
    expect(object.apiVersion).toBe('admissionregistration.k8s.io/v1');
    expect(object.kind).toBe('MutatingWebhookConfiguration');
    expect(object.metadata).toEqual({
      name: 'imagegate',
      labels: { 'app.kubernetes.io/name': 'imagegate' },
      annotations: { 'imagegate.io/cluster': 'prod-eu-1' },
    });
    expect(object.webhooks).toHaveLength(1);
    const webhook = object.webhooks[0]!;
    expect(Object.keys(webhook).sort()).toEqual(
      [
        'admissionReviewVersions',
        'clientConfig',
        'failurePolicy',
        'matchPolicy',
        'name',
        'namespaceSelector',
        'reinvocationPolicy',
        'rules',
        'sideEffects',
        'timeoutSeconds',
      ].sort(),
    );
    expect(webhook.name).toBe(WEBHOOK_NAME);
    expect(webhook.name.split('.').length).toBeGreaterThanOrEqual(3);
    expect(webhook.clientConfig).toEqual({ url: `${API}/admit/prod-eu-1/${TOKEN}` });
    expect(webhook.admissionReviewVersions).toEqual(['v1']);
    expect(webhook.sideEffects).toBe('None');
    expect(webhook.reinvocationPolicy).toBe('IfNeeded');
    expect(webhook.matchPolicy).toBe('Equivalent');
    expect(webhook.timeoutSeconds).toBe(15);
    expect(webhook.failurePolicy).toBe('Fail');
    expect(webhook.namespaceSelector).toEqual({
      matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system'] }],
    });
    expect(webhook.rules).toEqual(RULES);
  });

  test('token from stdin (--token -), custom domain with a base path, every flag', async () => {
    const result = await imagegate(
      [
        '--url',
        'https://Hooks.Example.com/imagegate/',
        '--cluster',
        'staging',
        '--token',
        '-',
        '--timeout',
        '5',
        '--failure-policy',
        'Ignore',
        '--name',
        'imagegate-canary',
      ],
      { input: `${TOKEN}\n`, env: { IMAGEGATE_TOKEN: 'f'.repeat(64) } },
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const object = await kubectlRead(result.stdout);
    expect(object.metadata.name).toBe('imagegate-canary');
    const webhook = object.webhooks[0]!;
    expect(webhook.clientConfig.url).toBe(`https://hooks.example.com/imagegate/admit/staging/${TOKEN}`);
    expect(webhook.timeoutSeconds).toBe(5);
    expect(webhook.failurePolicy).toBe('Ignore');
    expect(webhook.rules).toEqual(RULES);
  });

  test('--token TOKEN is taken over IMAGEGATE_TOKEN', async () => {
    const token = 'A'.repeat(20) + '_-.~' + 'z'.repeat(20);
    const result = await imagegate(['--url', API, '--cluster', 'dev', '--token', token], {
      env: { IMAGEGATE_TOKEN: TOKEN },
    });
    expect(result.code).toBe(0);
    const object = await kubectlRead(result.stdout);
    expect(object.webhooks[0]!.clientConfig.url).toBe(`${API}/admit/dev/${token}`);
  });

  test.each(['no', 'y', 'on', 'off', 'null', '1e3', '0x1f', '0b101', '0123', '42'])(
    'cluster %j stays a string for kubectl (YAML 1.1)',
    async (cluster) => {
      const result = await imagegate(['--url', API, '--cluster', cluster], {
        env: { IMAGEGATE_TOKEN: TOKEN },
      });
      expect(result.code).toBe(0);
      const object = await kubectlRead(result.stdout);
      expect(object.metadata.annotations).toEqual({ 'imagegate.io/cluster': cluster });
      expect(object.webhooks[0]!.clientConfig.url).toBe(`${API}/admit/${cluster}/${TOKEN}`);
    },
  );

  const withToken = { IMAGEGATE_TOKEN: TOKEN };
  test.each([
    { name: 'no --url', flags: ['--cluster', 'a'], env: withToken, error: /^--url is required/ },
    { name: 'no --cluster', flags: ['--url', API], env: withToken, error: /^--cluster is required/ },
    {
      name: 'http URL',
      flags: ['--url', 'http://example.com', '--cluster', 'a'],
      env: withToken,
      error: /https:\/\/ URL/,
    },
    {
      name: 'not a URL',
      flags: ['--url', 'example.com', '--cluster', 'a'],
      env: withToken,
      error: /is not a URL/,
    },
    {
      name: 'URL with a query',
      flags: ['--url', `${API}?stage=x`, '--cluster', 'a'],
      env: withToken,
      error: /query or fragment/,
    },
    {
      name: 'URL with userinfo',
      flags: ['--url', `https://u:p@example.com`, '--cluster', 'a'],
      env: withToken,
      error: /user or password/,
    },
    {
      name: 'URL already ending in /admit',
      flags: ['--url', `${API}/admit`, '--cluster', 'a'],
      env: withToken,
      error: /without \/admit/,
    },
    {
      name: 'cluster with upper case and _',
      flags: ['--url', API, '--cluster', 'Prod_A'],
      env: withToken,
      error: /must be a DNS label/,
    },
    {
      name: 'cluster longer than 63',
      flags: ['--url', API, '--cluster', 'a'.repeat(64)],
      env: withToken,
      error: /must be a DNS label/,
    },
    {
      name: 'cluster starting with -',
      flags: ['--url', API, '--cluster', '-a'],
      env: withToken,
      error: /argument is ambiguous/,
    },
    {
      name: '--timeout 0',
      flags: ['--url', API, '--cluster', 'a', '--timeout', '0'],
      env: withToken,
      error: /from 1 to 30/,
    },
    {
      name: '--timeout 31',
      flags: ['--url', API, '--cluster', 'a', '--timeout', '31'],
      env: withToken,
      error: /from 1 to 30/,
    },
    {
      name: '--timeout 1.5',
      flags: ['--url', API, '--cluster', 'a', '--timeout', '1.5'],
      env: withToken,
      error: /from 1 to 30/,
    },
    {
      name: '--failure-policy fail',
      flags: ['--url', API, '--cluster', 'a', '--failure-policy', 'fail'],
      env: withToken,
      error: /Fail or Ignore/,
    },
    {
      name: 'bad --name',
      flags: ['--url', API, '--cluster', 'a', '--name', 'ImageGate'],
      env: withToken,
      error: /object name/,
    },
    {
      name: 'no token',
      flags: ['--url', API, '--cluster', 'a'],
      env: {},
      error: /^no token: set IMAGEGATE_TOKEN/,
    },
    {
      name: '--token - with empty stdin',
      flags: ['--url', API, '--cluster', 'a', '--token', '-'],
      env: {},
      error: /stdin is empty/,
    },
    {
      name: 'short token',
      flags: ['--url', API, '--cluster', 'a'],
      env: { IMAGEGATE_TOKEN: 'short-secret' },
      error: /32 to 512/,
    },
    {
      name: 'token with /',
      flags: ['--url', API, '--cluster', 'a', '--token', `${TOKEN}/x`],
      env: {},
      error: /32 to 512 characters/,
    },
    {
      name: 'stray positional (a token)',
      flags: ['--url', API, '--cluster', 'a', TOKEN],
      env: {},
      error: /takes only flags/,
    },
    {
      name: 'unknown --token-secret',
      flags: ['--url', API, '--cluster', 'a', `--token-secret=${TOKEN}`],
      env: {},
      error: /^Unknown option '--token-secret'$/,
    },
  ])('$name: exit 2, one line', async ({ flags, env, error }) => {
    const result = await imagegate(flags, { env });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    const lines = result.stderr.split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toBe('');
    expect(lines[0]).toMatch(/^imagegate: /);
    expect(lines[0]!.slice('imagegate: '.length)).toMatch(error);
    // A token never reaches stderr, whichever way it was given.
    for (const secret of [TOKEN, 'short-secret']) expect(result.stderr).not.toContain(secret);
  });
});
