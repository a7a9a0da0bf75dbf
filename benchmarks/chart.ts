/**
 * benchmarks/results/throughput.svg: records/s by scenario and worker count as
 * horizontal bars (long labels stay readable), each bar labelled with its value,
 * a records/s axis with gridlines, and dashed lines for the targets.
 */

export interface ChartBar {
  /** Scenario heading the bar is listed under, e.g. `engine only (1 worker)`. */
  group: string;
  /** The bar's own label, e.g. `tides-30m-average`. */
  label: string;
  recordsPerSecond: number;
}

export interface ChartLine {
  label: string;
  recordsPerSecond: number;
}

const number = new Intl.NumberFormat('en-US');

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A round axis maximum (1, 2, 2.5 or 5 x 10^n) at or above `value`, and its tick step. */
function axis(value: number): { max: number; step: number } {
  const magnitude = 10 ** Math.floor(Math.log10(Math.max(value, 1)));
  for (const factor of [1, 2, 2.5, 5, 10]) {
    if (factor * magnitude >= value) {
      const max = factor * magnitude;
      // 4 ticks for 2 x 10^n (0.5 steps), 5 for the others (0.2, 0.5, 1, 2 steps).
      return { max, step: max / (factor === 2 ? 4 : 5) };
    }
  }
  return { max: 10 * magnitude, step: 2 * magnitude };
}

function short(value: number): string {
  if (value >= 1_000_000) return `${(value / 1_000_000).toFixed(value % 1_000_000 === 0 ? 0 : 1)}M`;
  if (value >= 1000) return `${Math.round(value / 1000)}k`;
  return String(value);
}

/** The chart as an SVG document. */
export function throughputSvg(title: string, subtitle: string, bars: ChartBar[], lines: ChartLine[] = []): string {
  const labelWidth = 300;
  const plotWidth = 520;
  const valueWidth = 110;
  const barHeight = 22;
  const gap = 6;
  const groupGap = 30;
  const top = 70;
  const width = labelWidth + plotWidth + valueWidth + 20;
  const { max, step } = axis(Math.max(1, ...bars.map((bar) => bar.recordsPerSecond), ...lines.map((line) => line.recordsPerSecond)) * 1.02);
  const x = (value: number) => labelWidth + (plotWidth * value) / max;
  const palette = ['#2b6cb0', '#2f855a', '#b7791f', '#9b2c2c', '#6b46c1', '#2c7a7b'];
  const groups: string[] = [];
  for (const bar of bars) if (!groups.includes(bar.group)) groups.push(bar.group);

  const body: string[] = [];
  let y = top;
  groups.forEach((group, index) => {
    body.push(`<text x="10" y="${y + 14}" class="group">${escape(group)}</text>`);
    y += 22;
    for (const bar of bars.filter((candidate) => candidate.group === group)) {
      const barWidth = Math.max(1, x(bar.recordsPerSecond) - labelWidth);
      body.push(
        `<text x="${labelWidth - 8}" y="${y + barHeight / 2 + 5}" text-anchor="end">${escape(bar.label)}</text>`,
        `<rect x="${labelWidth}" y="${y}" width="${barWidth.toFixed(1)}" height="${barHeight}" fill="${palette[index % palette.length]}"><title>${escape(`${group}, ${bar.label}: ${number.format(Math.round(bar.recordsPerSecond))} records/s`)}</title></rect>`,
        `<text x="${(labelWidth + barWidth + 6).toFixed(1)}" y="${y + barHeight / 2 + 5}" class="value">${number.format(Math.round(bar.recordsPerSecond))}</text>`,
      );
      y += barHeight + gap;
    }
    y += groupGap - gap;
  });
  const plotBottom = y - groupGap + 10;
  const grid: string[] = [];
  for (let tick = 0; tick <= max + 1e-9; tick += step) {
    grid.push(
      `<line x1="${x(tick).toFixed(1)}" y1="${top - 6}" x2="${x(tick).toFixed(1)}" y2="${plotBottom}" class="grid"/>`,
      `<text x="${x(tick).toFixed(1)}" y="${plotBottom + 18}" text-anchor="middle" class="tick">${short(tick)}</text>`,
    );
  }
  const targets = lines.map(
    (line) =>
      `<line x1="${x(line.recordsPerSecond).toFixed(1)}" y1="${top - 6}" x2="${x(line.recordsPerSecond).toFixed(1)}" y2="${plotBottom}" class="target"/>` +
      `<text x="${(x(line.recordsPerSecond) + 4).toFixed(1)}" y="${top - 10}" class="target-label">${escape(line.label)}</text>`,
  );
  const height = plotBottom + 50;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="13">`,
    '<style>text{fill:#1a202c}.group{font-weight:bold}.value{font-size:12px}.tick{font-size:11px;fill:#4a5568}.grid{stroke:#e2e8f0}.axis{stroke:#4a5568}' +
      '.target{stroke:#c53030;stroke-dasharray:5 4;stroke-width:1.5}.target-label{font-size:11px;fill:#c53030}.title{font-size:17px;font-weight:bold}.subtitle{font-size:12px;fill:#4a5568}</style>',
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="10" y="24" class="title">${escape(title)}</text>`,
    `<text x="10" y="44" class="subtitle">${escape(subtitle)}</text>`,
    ...grid,
    `<line x1="${labelWidth}" y1="${top - 6}" x2="${labelWidth}" y2="${plotBottom}" class="axis"/>`,
    `<line x1="${labelWidth}" y1="${plotBottom}" x2="${labelWidth + plotWidth}" y2="${plotBottom}" class="axis"/>`,
    `<text x="${labelWidth + plotWidth / 2}" y="${plotBottom + 38}" text-anchor="middle" class="tick">records per second (median; higher is better)</text>`,
    ...body,
    ...targets,
    '</svg>',
    '',
  ].join('\n');
}
