// @ts-check
'use strict';
/**
 * Draws the layout of a CloudWatch dashboard body (infra/dashboard.cjs) as SVG: every widget at its
 * grid position and size, with its title and legend (metric lines with their statistic, alarm
 * names, the log table's columns). `node scripts/render-dashboard.mjs` writes docs/dashboard.svg;
 * test/unit/observability/dashboard-svg.test.ts checks the committed file is current.
 */

const COLUMN = 50;
const ROW = 34;
const MARGIN = 16;
const PALETTE = [
  '#1f77b4',
  '#ff7f0e',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf',
];

/**
 * @typedef {{ type: string, x: number, y: number, width: number, height: number, properties: Record<string, any> }} Widget
 */

function escape(/** @type {string} */ text) {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

/** Cuts `text` to about `width` pixels of 7-pixel characters. */
function fit(/** @type {string} */ text, /** @type {number} */ width, size = 7) {
  const max = Math.max(4, Math.floor(width / size));
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** The legend entries of a metric widget: label, statistic, colour; hidden lines left out. */
function legend(/** @type {Widget} */ widget) {
  /** @type {{ label: string, color: string }[]} */
  const entries = [];
  const stat = widget.properties.stat;
  /** @type {unknown[][]} */
  const lines = widget.properties.metrics ?? [];
  const taken = new Set(
    lines.map((line) => /** @type {{ color?: string }} */ (line[line.length - 1])?.color),
  );
  const free = PALETTE.filter((color) => !taken.has(color));
  let next = 0;
  for (const line of lines) {
    const last = line[line.length - 1];
    const options = typeof last === 'object' && last !== null ? last : {};
    if (options.visible === false) continue;
    const name = options.expression ? options.expression : line[1];
    const label = options.label ?? name;
    const lineStat = options.expression ? '' : (options.stat ?? stat);
    const shown =
      lineStat && lineStat !== 'Sum' && !String(label).toLowerCase().includes(String(lineStat).toLowerCase())
        ? `${label} (${lineStat})`
        : label;
    entries.push({ label: shown, color: options.color ?? free[next++ % free.length] ?? PALETTE[0] });
  }
  return entries;
}

/** A deterministic wavy line for a legend entry, so the picture reads as a graph. */
function sparkline(
  /** @type {string} */ seed,
  /** @type {number} */ x,
  /** @type {number} */ y,
  /** @type {number} */ width,
  /** @type {number} */ height,
) {
  let state = [...seed].reduce((hash, char) => (hash * 31 + char.charCodeAt(0)) >>> 0, 7);
  const next = () => {
    state = (state * 1103515245 + 12345) >>> 0;
    return state / 0xffffffff;
  };
  const base = 0.3 + next() * 0.4;
  const points = [];
  for (let step = 0; step <= 24; step++) {
    const value = Math.min(0.95, Math.max(0.05, base + (next() - 0.5) * 0.35));
    points.push(`${(x + (width * step) / 24).toFixed(1)},${(y + height * (1 - value)).toFixed(1)}`);
  }
  return points.join(' ');
}

function metricWidget(
  /** @type {Widget} */ widget,
  /** @type {number} */ left,
  /** @type {number} */ top,
  /** @type {number} */ width,
  /** @type {number} */ height,
) {
  const entries = legend(widget);
  const plot = {
    x: left + 10,
    y: top + 30,
    width: width - 20,
    height: Math.max(30, height - 50 - 14 * Math.ceil(entries.length / 2)),
  };
  const parts = [
    `<rect x="${plot.x}" y="${plot.y}" width="${plot.width}" height="${plot.height}" fill="#fafafa" stroke="#e0e0e0"/>`,
  ];
  for (const annotation of widget.properties.annotations?.horizontal ?? []) {
    const max = Math.max(
      ...(widget.properties.annotations.horizontal ?? []).map(
        (/** @type {{value: number}} */ item) => item.value,
      ),
    );
    const lineY = plot.y + plot.height * (1 - (0.9 * annotation.value) / max);
    parts.push(
      `<line x1="${plot.x}" x2="${plot.x + plot.width}" y1="${lineY.toFixed(1)}" y2="${lineY.toFixed(1)}" stroke="${annotation.color ?? '#d62728'}" stroke-dasharray="4 3"/>`,
      `<text x="${plot.x + plot.width - 4}" y="${(lineY - 3).toFixed(1)}" font-size="9" text-anchor="end" fill="${annotation.color ?? '#d62728'}">${escape(annotation.label)}</text>`,
    );
  }
  entries.forEach((entry, index) => {
    parts.push(
      `<polyline points="${sparkline(entry.label, plot.x + 2, plot.y + 4, plot.width - 4, plot.height - 8)}" fill="none" stroke="${entry.color}" stroke-width="1.2" opacity="0.8"/>`,
    );
    const column = index % 2;
    const legendX = plot.x + column * (plot.width / 2);
    const legendY = plot.y + plot.height + 14 + 14 * Math.floor(index / 2);
    parts.push(
      `<rect x="${legendX}" y="${legendY - 8}" width="9" height="9" fill="${entry.color}"/>`,
      `<text x="${legendX + 13}" y="${legendY}" font-size="10">${escape(fit(entry.label, plot.width / 2 - 16, 5.6))}</text>`,
    );
  });
  return parts.join('\n');
}

function textWidget(
  /** @type {Widget} */ widget,
  /** @type {number} */ left,
  /** @type {number} */ top,
  /** @type {number} */ width,
) {
  const lines = String(widget.properties.markdown ?? '')
    .split('\n')
    .filter(Boolean);
  return lines
    .map((line, index) => {
      const heading = line.startsWith('#');
      const text = line.replace(/^#+\s*/, '').replace(/`/g, '');
      return `<text x="${left + 10}" y="${top + 24 + index * 20}" font-size="${heading ? 16 : 11}"${heading ? ' font-weight="bold"' : ''}>${escape(fit(text, width - 20, heading ? 9 : 5.8))}</text>`;
    })
    .join('\n');
}

function alarmWidget(
  /** @type {Widget} */ widget,
  /** @type {number} */ left,
  /** @type {number} */ top,
  /** @type {number} */ width,
) {
  const names = (widget.properties.alarms ?? []).map(
    (/** @type {string} */ arn) => arn.split(':alarm:')[1] ?? arn,
  );
  const pill = 250;
  const perRow = Math.max(1, Math.floor((width - 20) / pill));
  return names
    .map((/** @type {string} */ name, /** @type {number} */ index) => {
      const x = left + 10 + (index % perRow) * pill;
      const y = top + 30 + Math.floor(index / perRow) * 22;
      return [
        `<rect x="${x}" y="${y}" width="${pill - 8}" height="18" rx="9" fill="#e8f5e9" stroke="#2ca02c"/>`,
        `<text x="${x + 10}" y="${y + 13}" font-size="10">${escape(fit(name, pill - 24, 5.6))}</text>`,
      ].join('\n');
    })
    .join('\n');
}

function logWidget(
  /** @type {Widget} */ widget,
  /** @type {number} */ left,
  /** @type {number} */ top,
  /** @type {number} */ width,
) {
  const query = String(widget.properties.query ?? '');
  const stats = /stats (.*?) by (.*?)(?:\n|\||$)/.exec(query);
  const columns = stats
    ? [
        ...(stats[2] ?? '').split(',').map((part) => part.trim()),
        ...(stats[1] ?? '').split(',').map((part) => part.trim().split(' as ').pop() ?? ''),
      ]
    : [];
  const cell = (width - 20) / Math.max(1, columns.length);
  const parts = columns.map(
    (column, index) =>
      `<text x="${left + 14 + index * cell}" y="${top + 44}" font-size="10" font-weight="bold">${escape(fit(column, cell - 8, 5.8))}</text>`,
  );
  parts.push(
    `<line x1="${left + 10}" x2="${left + width - 10}" y1="${top + 50}" y2="${top + 50}" stroke="#bbb"/>`,
  );
  for (let row = 0; row < 4; row++) {
    parts.push(
      `<rect x="${left + 10}" y="${top + 56 + row * 18}" width="${width - 20}" height="14" fill="${row % 2 ? '#fafafa' : '#f2f2f2'}"/>`,
    );
  }
  const source = /SOURCE '([^']+)'/.exec(query)?.[1] ?? '';
  parts.push(
    `<text x="${left + 10}" y="${top + 140}" font-size="9" fill="#555">${escape(fit(`Logs Insights on ${source}: ${query.replace(/^SOURCE '[^']+' \| /, '').replace(/\n/g, ' ')}`, width - 20, 5.2))}</text>`,
  );
  return parts.join('\n');
}

/** The SVG picture of `body`'s layout. */
function renderDashboard(/** @type {{ widgets: Widget[] }} */ body, /** @type {string} */ caption) {
  const rows = Math.max(...body.widgets.map((widget) => widget.y + widget.height));
  const width = 24 * COLUMN + 2 * MARGIN;
  const height = rows * ROW + 2 * MARGIN + 24;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="${width}" height="${height}" fill="#eef0f2"/>`,
    `<text x="${MARGIN}" y="${height - 10}" font-size="10" fill="#555">${escape(caption)}</text>`,
  ];
  for (const widget of body.widgets) {
    const left = MARGIN + widget.x * COLUMN + 3;
    const top = MARGIN + widget.y * ROW + 3;
    const w = widget.width * COLUMN - 6;
    const h = widget.height * ROW - 6;
    const title = widget.type === 'text' ? '' : String(widget.properties.title ?? widget.type);
    parts.push(
      `<g>`,
      `<rect x="${left}" y="${top}" width="${w}" height="${h}" fill="#ffffff" stroke="#c9ccd1" rx="2"/>`,
    );
    if (title)
      parts.push(
        `<text x="${left + 10}" y="${top + 18}" font-size="12" font-weight="bold">${escape(fit(title, w - 20))}</text>`,
      );
    if (widget.type === 'metric') parts.push(metricWidget(widget, left, top, w, h));
    if (widget.type === 'text') parts.push(textWidget(widget, left, top, w));
    if (widget.type === 'alarm') parts.push(alarmWidget(widget, left, top, w));
    if (widget.type === 'log') parts.push(logWidget(widget, left, top, w));
    parts.push('</g>');
  }
  parts.push('</svg>', '');
  return parts.join('\n');
}

/** The stage and clusters docs/dashboard.svg is drawn for. */
const EXAMPLE = {
  stage: 'prod',
  region: 'us-east-1',
  clusters: ['prod-eu-1', 'prod-us-1'],
  functionName: 'imagegate-prod-admit',
  service: 'imagegate-prod-admit',
  lambdaTimeoutSeconds: 28,
};

module.exports = { renderDashboard, EXAMPLE };
