// Bundles the CLI into dist/cli.cjs so `npx imagegate` works right after `npm ci` (run by `prepare`).
import { build } from 'esbuild';

await build({
  entryPoints: ['lib/cli/index.ts'],
  outfile: 'dist/cli.cjs',
  bundle: true,
  platform: 'node',
  target: 'node22',
  format: 'cjs',
  sourcemap: 'inline',
  logLevel: 'warning',
});
