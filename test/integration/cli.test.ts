/**
 * `imagegate review` and `imagegate policy lint` as a user runs them: the bundled CLI
 * (bin/imagegate.cjs -> dist/cli.cjs, built by `npm ci`'s prepare step) in a child process.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { run, runChecked } from '../support/processes';
import {
  blockedText,
  parseBlocked,
  decodePatch,
  imageOps,
  podReview,
  startKyvernoScenario,
  type KyvernoScenario,
} from '../support/scenario';

const repoRoot = resolve(__dirname, '..', '..');
const cli = join(repoRoot, 'bin', 'imagegate.cjs');

let scenario: KyvernoScenario;
let work: string;
let policies: string;

beforeAll(async () => {
  await runChecked(process.execPath, [join(repoRoot, 'scripts', 'build-cli.mjs')], { cwd: repoRoot });
  scenario = await startKyvernoScenario();
  policies = await scenario.policyFolder('current');
  work = await mkdtemp(join(tmpdir(), 'imagegate-cli-'));
});

afterAll(async () => {
  await scenario?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function imagegate(args: string[], options: { input?: string; env?: Record<string, string> } = {}) {
  return run(process.execPath, [cli, ...args], {
    cwd: repoRoot,
    input: options.input,
    env: { ...process.env, IMAGEGATE_INSECURE_REGISTRIES: '', ...options.env },
  });
}

async function reviewFile(name: string, image: string): Promise<string> {
  const file = join(work, `${name}.json`);
  await writeFile(file, JSON.stringify(podReview(name, [image])));
  return file;
}

describe('imagegate review', () => {
  test('signed: exit 0, allowed, digest patch', async () => {
    const file = await reviewFile('signed', scenario.image('signed'));
    const result = await imagegate([
      'review',
      '--policies',
      policies,
      '--insecure-registry',
      scenario.registry.host,
      file,
    ]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const review = JSON.parse(result.stdout);
    expect(review.response.allowed).toBe(true);
    expect(imageOps(decodePatch(review.response))).toEqual([
      {
        op: 'replace',
        path: '/spec/containers/0/image',
        value: `${scenario.image('signed')}@${scenario.digests.signed}`,
      },
    ]);
  });

  test('unsigned, from stdin: exit 0, denied with Kyverno layout', async () => {
    const image = scenario.image('unsigned');
    const result = await imagegate(
      ['review', '--policies', policies, '--insecure-registry', scenario.registry.host, '-'],
      {
        input: JSON.stringify(podReview('unsigned', [image])),
      },
    );
    expect(result.code).toBe(0);
    expect(parseBlocked(JSON.parse(result.stdout).response.status.message)).toEqual(
      blockedText('unsigned', `image verification failed for ${image}: signature not found`),
    );
  });

  test('wrong key, insecure registry from IMAGEGATE_INSECURE_REGISTRIES: invalid signature', async () => {
    const image = scenario.image('wrongkey');
    const file = await reviewFile('wrongkey', image);
    const result = await imagegate(['review', '--policies', policies, file], {
      env: { IMAGEGATE_INSECURE_REGISTRIES: scenario.registry.host },
    });
    expect(result.code).toBe(0);
    expect(parseBlocked(JSON.parse(result.stdout).response.status.message)).toEqual(
      blockedText('wrongkey', `image verification failed for ${image}: invalid signature`),
    );
  });

  test.each([
    [
      'a missing file',
      ['review', '--policies', 'POLICIES', '/nonexistent/review.json'],
      /^imagegate: cannot read \/nonexistent\/review\.json/,
    ],
    ['a file that is not JSON', ['review', '--policies', 'POLICIES', 'NOTJSON'], /^imagegate: .*not JSON/],
    [
      'a file that is not an AdmissionReview',
      ['review', '--policies', 'POLICIES', 'NOTREVIEW'],
      /^imagegate: .*invalid AdmissionReview: kind must be AdmissionReview/,
    ],
    ['an unknown flag', ['review', '--colour', 'x'], /^imagegate: Unknown option '--colour'/],
    [
      'a bad insecure registry',
      ['review', '--insecure-registry', 'http://x/', 'REVIEW'],
      /^imagegate: --insecure-registry: "http:\/\/x\/" is not host\[:port\]/,
    ],
    ['an unknown command', ['frobnicate'], /^imagegate: unknown command "frobnicate"/],
  ])('%s: exit 2 with a one-line reason', async (_name, args, reason) => {
    const notJson = join(work, 'not.json');
    const notReview = join(work, 'not-review.json');
    await writeFile(notJson, '{"apiVersion":');
    await writeFile(notReview, JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'Pod' }));
    const review = await reviewFile('any', 'nginx');
    const resolved = args.map((arg) =>
      arg === 'POLICIES'
        ? policies
        : arg === 'NOTJSON'
          ? notJson
          : arg === 'NOTREVIEW'
            ? notReview
            : arg === 'REVIEW'
              ? review
              : arg,
    );
    const result = await imagegate(resolved);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(reason);
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  test('a policy file with a YAML error: exit 2 naming the file and line', async () => {
    const folder = await scenario.folderWith({ 'broken.yaml': 'kind: ClusterPolicy\nspec: [\n' });
    const result = await imagegate(['review', '--policies', folder, await reviewFile('x', 'nginx')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^imagegate: invalid policy: .*broken\.yaml:\d+: YAML error/);
  });

  test('a policy with an unknown attestor field: exit 2 naming the field path', async () => {
    const folder = await scenario.folderWith({
      'p.yaml': (await import('../support/scenario'))
        .samplePolicy('current', 'x/*', scenario.policyKey.publicKeyPem)
        .replace('publicKeys:', 'publicKey:'),
    });
    const result = await imagegate(['review', '--policies', folder, await reviewFile('x', 'nginx')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /spec\.rules\[0\]\.verifyImages\[0\]\.attestors\[0\]\.entries\[0\]\.keys\.publicKey: unknown field/,
    );
  });
});

describe('imagegate policy lint', () => {
  test('a clean folder: exit 0, nothing on stdout', async () => {
    const result = await imagegate(['policy', 'lint', policies]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('');
  });

  test('problems: exit 1, one `file:line field.path: reason` per problem', async () => {
    const folder = await scenario.folderWith({
      'audit.yaml': (await import('../support/scenario'))
        .samplePolicy('current', 'x/*', scenario.policyKey.publicKeyPem)
        .replace('failureAction: Enforce', 'failureAction: Audit'),
    });
    const result = await imagegate(['policy', 'lint', folder]);
    expect(result.code).toBe(1);
    expect(result.stdout.trim().split('\n')).toEqual([
      expect.stringMatching(
        /audit\.yaml:\d+ spec\.rules\[0\]\.verifyImages\[0\]\.mutateDigest: mutateDigest must be set to false for ‘Audit’ failure action$/,
      ),
    ]);
  });
});
