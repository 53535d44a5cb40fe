/**
 * `imagegate policy lint` on policies that would verify nothing (issue 11, part 10): the bundled
 * CLI in a child process, as a user runs it, prints each problem as `file:line field.path: reason`.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { run, runChecked } from '../support/processes';
import { KYVERNO_SAMPLE_KEY } from '../support/builders';

const repoRoot = resolve(__dirname, '..', '..');
const cli = join(repoRoot, 'bin', 'imagegate.cjs');
let work: string;

beforeAll(async () => {
  await runChecked(process.execPath, [join(repoRoot, 'scripts', 'build-cli.mjs')], { cwd: repoRoot });
  work = await mkdtemp(join(tmpdir(), 'imagegate-failopen-lint-'));
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const key = KYVERNO_SAMPLE_KEY.split('\n')
  .map((line) => `                      ${line}`)
  .join('\n');

/** A ClusterPolicy whose one verifyImages entry has these `attestors` lines (10 spaces deep). */
const policyWith = (attestors: string) => `apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata:
  name: check-image
spec:
  rules:
    - name: check-image
      match:
        any:
          - resources:
              kinds: [Pod]
      verifyImages:
        - imageReferences: ['ghcr.io/acme/*']
          failureAction: Enforce
${attestors}
`;

test('an empty attestor set, and a nested one, are reported with file:line and field path; exit 1', async () => {
  const folder = await mkdtemp(join(work, 'policies-'));
  await writeFile(join(folder, 'empty.yaml'), policyWith('          attestors:\n            - entries: []'));
  await writeFile(
    join(folder, 'nested.yaml'),
    policyWith(
      [
        '          attestors:',
        '            - count: 1',
        '              entries:',
        '                - keys:',
        '                    publicKeys: |-',
        key,
        '                - attestor:',
        '                    entries: []',
      ].join('\n'),
    ),
  );

  const result = await run(process.execPath, [cli, 'policy', 'lint', folder], { cwd: repoRoot });

  expect(result.code).toBe(1);
  const nestedLine = 21 + KYVERNO_SAMPLE_KEY.split('\n').length;
  expect(result.stdout.trim().split('\n')).toEqual([
    `${join(folder, 'empty.yaml')}:16 spec.rules[0].verifyImages[0].attestors[0].entries: must not be empty: an attestor set without entries is satisfied by every image, signed or not`,
    `${join(folder, 'nested.yaml')}:${nestedLine} spec.rules[0].verifyImages[0].attestors[0].entries[1].attestor.entries: must not be empty: an attestor set without entries is satisfied by every image, signed or not`,
  ]);
});
