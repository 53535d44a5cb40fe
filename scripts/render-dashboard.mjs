// Draws the CloudWatch dashboard's layout into docs/dashboard.svg (shown in docs/operations.md):
// the dashboard body infra/dashboard.cjs builds for an example stage with two clusters.
//   node scripts/render-dashboard.mjs            # writes docs/dashboard.svg
//   node scripts/render-dashboard.mjs --check    # exit 1 when docs/dashboard.svg is out of date
import { readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const { dashboardBody } = require('../infra/dashboard.cjs');
const { renderDashboard, EXAMPLE } = require('../infra/dashboard-svg.cjs');

const target = fileURLToPath(new URL('../docs/dashboard.svg', import.meta.url));
const caption = `Layout of the imagegate-${EXAMPLE.stage} dashboard (infra/dashboard.cjs) with clusters ${EXAMPLE.clusters.join(', ')}; lines are illustrative. Regenerate: node scripts/render-dashboard.mjs`;
const svg = renderDashboard(dashboardBody(EXAMPLE), caption);

if (process.argv.includes('--check')) {
  const current = await readFile(target, 'utf8').catch(() => '');
  if (current !== svg) {
    process.stderr.write('docs/dashboard.svg is out of date: run node scripts/render-dashboard.mjs\n');
    process.exit(1);
  }
} else {
  await writeFile(target, svg);
  process.stdout.write(`wrote ${target}\n`);
}
