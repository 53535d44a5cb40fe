// `npm run bench`: bundles bench/bench.ts (and what it imports) and runs it with Node 22,
// with --expose-gc so that memory is measured after a collection.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

// The bench runs the real registry, as the tests do.
const deps = spawnSync('bash', ['scripts/ensure-system-deps.sh'], { stdio: 'inherit' });
if (deps.status !== 0) process.exit(deps.status ?? 1);

// Inside the repository, so that the bundle resolves esbuild (left external) from node_modules.
mkdirSync('node_modules/.cache', { recursive: true });
const dir = mkdtempSync(join('node_modules/.cache', 'imagegate-bench-'));
const outfile = join(dir, 'bench.cjs');
try {
  await build({
    entryPoints: ['bench/bench.ts'],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'cjs',
    external: ['esbuild'],
    logLevel: 'warning',
  });
  const { status } = spawnSync(process.execPath, ['--expose-gc', outfile], { stdio: 'inherit' });
  process.exitCode = status ?? 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
