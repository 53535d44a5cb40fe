/** docs/dashboard.svg is the picture of the dashboard infra/dashboard.cjs builds now. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

interface SvgModule {
  renderDashboard(body: unknown, caption: string): string;
  EXAMPLE: { stage: string; clusters: string[] };
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const svgModule = require('../../../infra/dashboard-svg.cjs') as SvgModule;
const { EXAMPLE } = svgModule;
const renderDashboard = (body: unknown, caption: string) => svgModule.renderDashboard(body, caption);
// eslint-disable-next-line @typescript-eslint/no-require-imports
const dashboardModule = require('../../../infra/dashboard.cjs') as {
  dashboardBody(settings: unknown): { widgets: { properties: { title?: string } }[] };
};
const dashboardBody = (settings: unknown) => dashboardModule.dashboardBody(settings);

const repoRoot = join(__dirname, '..', '..', '..');

test('docs/dashboard.svg is current (regenerate: node scripts/render-dashboard.mjs)', () => {
  const committed = readFileSync(join(repoRoot, 'docs', 'dashboard.svg'), 'utf8');
  const caption = /<text [^>]*>(Layout of [^<]*)<\/text>/.exec(committed)?.[1] ?? '';
  expect(caption).toContain(EXAMPLE.clusters.join(', '));
  expect(committed).toBe(renderDashboard(dashboardBody(EXAMPLE), caption.replace(/&#39;/g, "'")));
});

test('the picture shows every widget title', () => {
  const svg = renderDashboard(dashboardBody(EXAMPLE), 'caption');
  for (const widget of dashboardBody(EXAMPLE).widgets) {
    if (widget.properties.title) expect(svg).toContain(`>${widget.properties.title.replace(/'/g, '&#39;')}<`);
  }
});

test('docs/operations.md shows the picture', () => {
  expect(readFileSync(join(repoRoot, 'docs', 'operations.md'), 'utf8')).toContain('](dashboard.svg)');
});
