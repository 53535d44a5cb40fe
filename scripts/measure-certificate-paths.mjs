// ADR 12's figures: bundles bench/certificate-paths.ts and runs it (per-verification cost), then
// measures what pkijs adds to a cold module load and to the Lambda bundle. A measurement, not a test.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

mkdirSync('node_modules/.cache', { recursive: true });
const dir = mkdtempSync(join('node_modules/.cache', 'imagegate-certificate-paths-'));
const bundle = async (entry, outfile, extra = {}) =>
  build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'cjs',
    logLevel: 'warning',
    ...extra,
  });
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

try {
  await bundle('bench/certificate-paths.ts', join(dir, 'bench.cjs'));
  spawnSync(process.execPath, [join(dir, 'bench.cjs')], { stdio: 'inherit' });

  // Cold load: a fresh process requiring the bundled module, minus a process requiring nothing.
  writeFileSync(
    join(dir, 'pkijs-entry.ts'),
    "import { Certificate } from 'pkijs';\nexport const loaded = Certificate;\n",
  );
  writeFileSync(join(dir, 'empty-entry.ts'), 'export const loaded = 1;\n');
  await bundle(join(dir, 'pkijs-entry.ts'), join(dir, 'pkijs.cjs'));
  await bundle('lib/verify/rfc5280.ts', join(dir, 'rfc5280.cjs'));
  await bundle(join(dir, 'empty-entry.ts'), join(dir, 'empty.cjs'));
  const loadMs = (file) => {
    const samples = [];
    for (let run = 0; run < 9; run++) {
      const script = `const t=process.hrtime.bigint();require(${JSON.stringify(join(process.cwd(), file))});process.stdout.write(String(Number(process.hrtime.bigint()-t)/1e6))`;
      samples.push(Number(spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' }).stdout));
    }
    return median(samples);
  };
  const empty = loadMs(join(dir, 'empty.cjs'));
  const load = {
    pkijsCertificateMs: Number((loadMs(join(dir, 'pkijs.cjs')) - empty).toFixed(1)),
    rfc5280ModuleMs: Number((loadMs(join(dir, 'rfc5280.cjs')) - empty).toFixed(1)),
  };

  // What the pkijs family weighs in the Lambda bundle (functions/admit.ts, as serverless-esbuild builds it).
  const result = await bundle('functions/admit.ts', join(dir, 'admit.cjs'), {
    metafile: true,
    minify: false,
  });
  const input = result.metafile.outputs[join(dir, 'admit.cjs')].inputs;
  const bytes = (pattern) =>
    Object.entries(input)
      .filter(([path]) => pattern.test(path))
      .reduce((sum, [, { bytesInOutput }]) => sum + bytesInOutput, 0);
  const total = result.metafile.outputs[join(dir, 'admit.cjs')].bytes;
  console.log(
    JSON.stringify(
      {
        load,
        lambdaBundleBytes: total,
        pkijsFamilyBytes: bytes(
          /node_modules\/(pkijs|asn1js|bytestreamjs|@noble\/hashes|@peculiar\/utils)\//,
        ),
      },
      null,
      2,
    ),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
