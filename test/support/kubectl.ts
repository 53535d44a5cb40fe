/**
 * kubectl without a cluster: `create … --dry-run=client` builds real Kubernetes objects, and
 * `patch --local --type=json` applies an RFC 6902 patch the way the API server would accept it.
 * KUBECONFIG=/dev/null so no real cluster configuration is ever read.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir, removeDir, run } from './processes';

function kubectlEnv(): NodeJS.ProcessEnv {
  return { ...process.env, KUBECONFIG: '/dev/null' };
}

/** kubectl exited non-zero; `message` is its stderr. */
export class KubectlError extends Error {
  constructor(
    readonly args: readonly string[],
    readonly stderr: string,
    readonly exitCode: number | null,
  ) {
    super(stderr.trim() || `kubectl ${args.join(' ')} failed with exit code ${exitCode}`);
    this.name = 'KubectlError';
  }
}

async function kubectlJson(args: string[]): Promise<unknown> {
  const result = await run('kubectl', args, { env: kubectlEnv(), timeoutMs: 20_000 });
  if (result.code !== 0) throw new KubectlError(args, result.stderr, result.code);
  try {
    return JSON.parse(result.stdout) as unknown;
  } catch {
    throw new Error(`kubectl ${args.join(' ')} printed non-JSON output: ${result.stdout.slice(0, 500)}`);
  }
}

/**
 * Applies a JSON patch (RFC 6902) to `object` with `kubectl patch --local` and returns the patched object.
 * Rejects with kubectl's stderr (e.g. "error: testing value … failed", "doc is missing path") on failure.
 */
export async function applyJsonPatch(object: unknown, patch: unknown[]): Promise<unknown> {
  const dir = await makeTempDir('kubectl');
  try {
    const objectPath = join(dir, 'object.json');
    const patchPath = join(dir, 'patch.json');
    await writeFile(objectPath, JSON.stringify(object));
    await writeFile(patchPath, JSON.stringify(patch));
    return await kubectlJson([
      'patch',
      '--local',
      '-f',
      objectPath,
      '--type=json',
      '--patch-file',
      patchPath,
      '-o',
      'json',
    ]);
  } finally {
    await removeDir(dir);
  }
}

/**
 * `kubectl create <args> --dry-run=client -o json`, e.g.
 * `kubectlCreate(['deployment', 'web', '--image=127.0.0.1:5000/app:v1', '--replicas=2'])`,
 * `kubectlCreate(['job', 'j', '--image=…'])`, `kubectlCreate(['cronjob', 'c', '--image=…', '--schedule=* * * * *'])`.
 * The dry-run and output flags are added unless already present.
 */
export async function kubectlCreate(args: string[]): Promise<unknown> {
  const full = ['create', ...args];
  if (!args.some((a) => a.startsWith('--dry-run'))) full.push('--dry-run=client');
  if (!args.some((a) => a === '-o' || a.startsWith('--output') || a.startsWith('-o=')))
    full.push('-o', 'json');
  return kubectlJson(full);
}
