// Tides view: water level, lunar-day high/low/range and time of high water for
// the chosen stations and range, and a map of every station.
import uPlot from 'uplot';
import { count, getJson, h, metres, SERIES_STYLES, utc } from './format.js';
import { drawStationMap } from './map.js';

const DAY = 86_400_000;
/** Gaps longer than this break a line (a station that stopped reporting is not interpolated). */
const GAP_MS = 6 * 3_600_000;
const DEFAULT_STATIONS = ['9414290', '9410230', '8410140'];
const utcDate = (ts) => uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC');

export class TidesView {
  constructor(root) {
    this.root = root;
    this.status = root.querySelector('#results-status');
    this.form = root.querySelector('#tides-form');
    this.choices = root.querySelector('#station-choices');
    this.from = root.querySelector('#range-from');
    this.to = root.querySelector('#range-to');
    this.chartsBox = root.querySelector('#tides-charts');
    this.stations = [];
    this.charts = {};
    window.tideflow.charts = this.charts;
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.query().catch((error) => this.fail(error));
    });
    for (const button of this.form.querySelectorAll('button[data-days]')) {
      button.addEventListener('click', () => {
        this.preset(button.dataset.days);
        this.query().catch((error) => this.fail(error));
      });
    }
  }

  async load() {
    const answer = await getJson('/api/stations');
    this.results = answer.results;
    this.stations = answer.stations;
    this.status.textContent =
      answer.results.state === 'ready'
        ? `Results: ${answer.results.detail}. Station list read in ${answer.queryMs.toFixed(1)} ms.`
        : answer.results.state === 'computing'
          ? `Computing results: ${answer.results.detail}… the charts appear when they are done (a few seconds).`
          : `No results: ${answer.results.detail}`;
    this.renderChoices();
    this.renderMap();
    if (answer.results.state !== 'ready') return;
    const selected = this.selected();
    if (selected.length > 0 && !this.from.value) this.preset('30');
    await this.query();
  }

  /** The results changed (the embedded computation finished): start over. */
  resultsChanged(status) {
    if (status.state === this.results?.state && status.detail === this.results?.detail) return;
    this.from.value = '';
    this.to.value = '';
    this.load().catch((error) => this.fail(error));
  }

  withData() {
    return this.stations.filter((station) => station.last !== null);
  }

  selected() {
    return [...this.choices.querySelectorAll('input:checked')].map((input) => input.value);
  }

  renderChoices() {
    const previous = new Set(this.selected());
    const withData = this.withData();
    const defaults = previous.size > 0 ? previous : new Set(DEFAULT_STATIONS.filter((id) => withData.some((s) => s.id === id)));
    if (defaults.size === 0) withData.slice(0, 2).forEach((s) => defaults.add(s.id));
    this.choices.replaceChildren(
      ...this.stations.map((station) => {
        const hasData = station.last !== null;
        return h(
          'label',
          { class: hasData ? null : 'no-data' },
          h('input', { type: 'checkbox', value: station.id, checked: hasData && defaults.has(station.id), disabled: !hasData }),
          ` ${station.name} (${station.id})`,
          hasData ? ` ${station.first.slice(0, 10)} – ${station.last.slice(0, 10)}` : ' no results',
        );
      }),
    );
  }

  /** Sets the range: the last `days` days of the selected stations' common data, or all of it. */
  preset(days) {
    const chosen = this.withData().filter((station) => this.selected().includes(station.id));
    if (chosen.length === 0) return;
    const end = Math.min(...chosen.map((station) => Date.parse(station.last))) + DAY;
    const endDay = Math.floor(end / DAY) * DAY + DAY;
    const first = Math.min(...chosen.map((station) => Date.parse(station.first)));
    const start = days === 'all' ? Math.floor(first / DAY) * DAY : endDay - Number(days) * DAY;
    this.from.value = new Date(start).toISOString().slice(0, 10);
    this.to.value = new Date(days === 'all' ? Math.max(...chosen.map((station) => Date.parse(station.last))) + 2 * DAY : endDay).toISOString().slice(0, 10);
  }

  async query() {
    const stations = this.selected();
    if (stations.length === 0) {
      this.chartsBox.replaceChildren(h('p', {}, 'Choose at least one station.'));
      return;
    }
    if (!this.from.value || !this.to.value) this.preset('30');
    const from = `${this.from.value}T00:00:00Z`;
    const to = `${this.to.value}T00:00:00Z`;
    const query = `${stations.map((id) => `station=${encodeURIComponent(id)}`).join('&')}&from=${from}&to=${to}`;
    this.chartsBox.setAttribute('aria-busy', 'true');
    const started = performance.now();
    const [levels, lunarDays] = await Promise.all([getJson(`/api/results/levels?${query}`), getJson(`/api/results/lunar-days?${query}`)]);
    const elapsed = performance.now() - started;
    this.lastAnswer = { levels, lunarDays, from, to };
    window.tideflow.lastAnswer = this.lastAnswer;
    this.renderCharts(levels, lunarDays, elapsed);
    this.chartsBox.removeAttribute('aria-busy');
  }

  renderCharts(levels, lunarDays, elapsedMs) {
    for (const chart of Object.values(this.charts)) chart.destroy();
    for (const key of Object.keys(this.charts)) delete this.charts[key];
    const name = (id) => this.stations.find((station) => station.id === id)?.name ?? id;
    const width = this.width();
    const figures = [
      this.levelFigure(levels, name, width),
      this.lunarFigure(lunarDays, name, width),
      this.highTimeFigure(lunarDays, name, width),
    ];
    this.chartsBox.replaceChildren(
      h('p', { class: 'hint', id: 'fetch-time' }, `Fetched ${count(levels.series.reduce((n, s) => n + s.rows.length, 0))} 30-minute rows and ${count(lunarDays.series.reduce((n, s) => n + s.rows.length, 0))} lunar-day rows in ${elapsedMs.toFixed(0)} ms (${levels.source}).`),
      ...figures.map((figure) => figure.element),
    );
    // uPlot measures its container: the charts are made once their figures are in the page.
    for (const figure of figures) figure.draw();
  }

  levelFigure(answer, name, width) {
    const tables = answer.series.map((series) => withGaps(series.rows.map((row) => [Date.parse(row.window_start) / 1000, row.avg])));
    const data = tables.length === 1 ? tables[0] : uPlot.join(tables);
    const series = [{}, ...answer.series.map((s, i) => ({ label: `${name(s.station)} (${s.station})`, ...style(i), width: 1.5, value: (_u, v) => metres(v) }))];
    const box = h('div', { class: 'chart', id: 'chart-levels' });
    const element = h(
      'figure',
      { 'aria-labelledby': 'levels-title' },
      h('figcaption', {}, h('h3', { id: 'levels-title' }, 'Water level, 30-minute average (m above each station\'s datum)'), summaryLine(answer, (rows) => levelSummary(rows)), queryLines(answer, name)),
      box,
      h('details', {}, h('summary', {}, 'Daily minimum, mean and maximum as a table'), dailyTable(answer, name)),
    );
    return {
      element,
      draw: () => {
        this.charts.levels = new uPlot({ width, height: 300, series, tzDate: utcDate, axes: [{}, { label: 'metres', size: 60 }], scales: { x: { time: true } } }, data, box);
      },
    };
  }

  lunarFigure(answer, name, width) {
    const tables = answer.series.map((s) => [s.rows.map((row) => Date.parse(row.window_start) / 1000), s.rows.map((row) => row.high), s.rows.map((row) => row.low), s.rows.map((row) => row.range)]);
    const data = tables.length === 1 ? tables[0] : uPlot.join(tables);
    const series = [{}];
    answer.series.forEach((s, i) => {
      const { stroke, dash } = style(i);
      series.push({ label: `${s.station} high`, stroke, dash, width: 2, points: { show: true, size: 7, fill: stroke }, value: (_u, v) => metres(v) });
      series.push({ label: `${s.station} low`, stroke, dash, width: 1, points: { show: true, size: 7, fill: '#fff' }, value: (_u, v) => metres(v) });
      series.push({ label: `${s.station} range`, stroke, dash: [1, 3], width: 1, scale: 'range', points: { show: true, size: 5, fill: stroke }, value: (_u, v) => metres(v) });
    });
    const box = h('div', { class: 'chart', id: 'chart-lunar-days' });
    const element = h(
      'figure',
      { 'aria-labelledby': 'lunar-title' },
      h('figcaption', {}, h('h3', { id: 'lunar-title' }, 'High water, low water and tidal range per lunar day (24 h 50 min 28 s)'),
        h('p', { class: 'hint' }, 'One point per lunar day: filled = high water, hollow = low water (left axis), dotted = range (right axis). The range swells and shrinks over about 14.8 days (spring and neap tides).'),
        summaryLine(answer, (rows) => rangeSummary(rows)), queryLines(answer, name)),
      box,
      h('details', {}, h('summary', {}, 'Lunar days as a table'), lunarTable(answer, name)),
    );
    return {
      element,
      draw: () => {
        this.charts.lunarDays = new uPlot(
          { width, height: 300, series, tzDate: utcDate, scales: { x: { time: true } }, axes: [{}, { label: 'high / low (m)', size: 60 }, { scale: 'range', side: 1, label: 'range (m)', grid: { show: false }, size: 60 }] },
          data,
          box,
        );
      },
    };
  }

  highTimeFigure(answer, name, width) {
    // The hour of day (UTC) of each lunar day's high water: it comes about 50 minutes later every
    // solar day and wraps around the clock, which is the 24 h 50 min period made visible.
    const tables = answer.series.map((s) => {
      const rows = s.rows.filter((row) => row.high_time !== null);
      return [rows.map((row) => Date.parse(row.window_start) / 1000), rows.map((row) => hourOfDay(row.high_time))];
    });
    const data = tables.length === 1 ? tables[0] : uPlot.join(tables);
    const series = [{}, ...answer.series.map((s, i) => ({ label: `${name(s.station)} (${s.station})`, stroke: style(i).stroke, width: 0, paths: () => null, points: { show: true, size: 8, fill: style(i).stroke }, value: (_u, v) => (v === null || v === undefined ? '–' : clock(v)) }))];
    const box = h('div', { class: 'chart', id: 'chart-high-time' });
    const element = h(
      'figure',
      { 'aria-labelledby': 'high-time-title' },
      h('figcaption', {}, h('h3', { id: 'high-time-title' }, 'Time of day (UTC) of each lunar day\'s high water'),
        h('p', { class: 'hint' }, 'High water comes about 50 minutes later each day: the points climb and wrap around midnight, once every ~29.5 days per tide of the pair. A lunar day is 24 h 50 min 28 s long, which is why the job groups by it.'),
        h('p', {}, driftSummary(answer))),
      box,
    );
    return {
      element,
      draw: () => {
        this.charts.highTime = new uPlot(
          { width, height: 240, series, tzDate: utcDate, scales: { x: { time: true }, y: { range: [0, 24] } }, axes: [{}, { label: 'hour of day (UTC)', size: 60, splits: () => [0, 6, 12, 18, 24], values: (_u, values) => values.map((v) => `${String(v).padStart(2, '0')}:00`) }] },
          data,
          box,
        );
      },
    };
  }

  renderMap() {
    drawStationMap(this.root.querySelector('#map'), this.root.querySelector('#stations-table > div'), this.stations, (id) => {
      const input = this.choices.querySelector(`input[value="${CSS.escape(id)}"]`);
      if (!input || input.disabled) return;
      input.checked = !input.checked;
      this.query().catch((error) => this.fail(error));
    }).then((map) => {
      window.tideflow.map = map;
      document.documentElement.dataset.mapReady = 'true';
    }, (error) => this.fail(error));
  }

  width() {
    return Math.max(320, Math.min(1150, this.root.clientWidth - 20));
  }

  resize() {
    for (const chart of Object.values(this.charts)) chart.setSize({ width: this.width(), height: chart.height });
  }

  fail(error) {
    this.status.textContent = `Error: ${error.message}`;
    this.chartsBox.removeAttribute('aria-busy');
    console.error(error);
  }
}

function style(index) {
  return SERIES_STYLES[index % SERIES_STYLES.length];
}

/** Inserts a null after a row followed by a long gap, so the line breaks there instead of bridging it. */
function withGaps(points) {
  const xs = [];
  const ys = [];
  for (let i = 0; i < points.length; i++) {
    xs.push(points[i][0]);
    ys.push(points[i][1]);
    if (i + 1 < points.length && (points[i + 1][0] - points[i][0]) * 1000 > GAP_MS) {
      xs.push(points[i][0] + 1800);
      ys.push(null);
    }
  }
  return [xs, ys];
}

function hourOfDay(iso) {
  const ms = Date.parse(iso);
  return ((ms % DAY) + DAY) % DAY / 3_600_000;
}

function clock(hours) {
  const minutes = Math.round(hours * 60);
  return `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')} UTC`;
}

function summaryLine(answer, describe) {
  return h('p', {}, answer.series.map((s) => `${s.station}: ${describe(s.rows)}`).join(' · '));
}

function queryLines(answer, name) {
  return h('p', { class: 'query' }, answer.series.map((s) => `${name(s.station)}: ${count(s.rows.length)} rows in ${s.queryMs.toFixed(2)} ms — ${s.query}`).join('\n'));
}

function levelSummary(rows) {
  if (rows.length === 0) return 'no rows in this range';
  const values = rows.map((row) => row.avg).filter((v) => v !== null);
  return `${count(rows.length)} half hours, ${metres(Math.min(...values))} to ${metres(Math.max(...values))}`;
}

function rangeSummary(rows) {
  if (rows.length === 0) return 'no lunar days in this range';
  const ranges = rows.map((row) => row.range).filter((v) => v !== null);
  return `${rows.length} lunar days, range ${metres(Math.min(...ranges), 2)} to ${metres(Math.max(...ranges), 2)}`;
}

/** The average daily delay of high water, in words (the text alternative of the time-of-day chart). */
function driftSummary(answer) {
  return answer.series
    .map((s) => {
      const shifts = [];
      for (let i = 1; i < s.rows.length; i++) {
        const a = s.rows[i - 1];
        const b = s.rows[i];
        if (!a.high_time || !b.high_time) continue;
        const days = (Date.parse(b.window_start) - Date.parse(a.window_start)) / DAY;
        let shift = (hourOfDay(b.high_time) - hourOfDay(a.high_time)) * 60;
        // Semidiurnal stations have two highs a day: a jump of about 12 h 25 min is the other tide of the pair.
        while (shift > 360) shift -= 745;
        while (shift < -360) shift += 745;
        if (Math.abs(days - 89_428_329 / DAY) < 0.01 && Math.abs(shift) < 180) shifts.push(shift);
      }
      if (shifts.length === 0) return `${s.station}: too few lunar days to measure the drift`;
      const median = shifts.sort((x, y) => x - y)[Math.floor(shifts.length / 2)];
      return `${s.station}: high water comes ${Math.round(median)} min later by the clock from one lunar day to the next (median over ${shifts.length} lunar days)`;
    })
    .join(' · ');
}

function dailyTable(answer, name) {
  const rows = [];
  for (const s of answer.series) {
    const days = new Map();
    for (const row of s.rows) {
      const day = row.window_start.slice(0, 10);
      const entry = days.get(day) ?? { min: Infinity, max: -Infinity, sum: 0, n: 0 };
      entry.min = Math.min(entry.min, row.min);
      entry.max = Math.max(entry.max, row.max);
      entry.sum += row.avg;
      entry.n++;
      days.set(day, entry);
    }
    for (const [day, entry] of days) rows.push(h('tr', {}, h('td', {}, name(s.station)), h('td', {}, day), h('td', { class: 'number' }, metres(entry.min)), h('td', { class: 'number' }, metres(entry.sum / entry.n)), h('td', { class: 'number' }, metres(entry.max)), h('td', { class: 'number' }, entry.n)));
  }
  return h('table', {}, h('thead', {}, h('tr', {}, ...['Station', 'Day (UTC)', 'Minimum', 'Mean of averages', 'Maximum', 'Half hours'].map((t, i) => h('th', { class: i > 1 ? 'number' : null }, t)))), h('tbody', {}, rows));
}

function lunarTable(answer, name) {
  const rows = answer.series.flatMap((s) => s.rows.map((row) => h('tr', {}, h('td', {}, name(s.station)), h('td', {}, utc(Date.parse(row.window_start))), h('td', { class: 'number' }, metres(row.high)), h('td', {}, row.high_time ? utc(Date.parse(row.high_time)) : '–'), h('td', { class: 'number' }, metres(row.low)), h('td', {}, row.low_time ? utc(Date.parse(row.low_time)) : '–'), h('td', { class: 'number' }, metres(row.range)), h('td', { class: 'number' }, row.count))));
  return h('table', {}, h('thead', {}, h('tr', {}, ...['Station', 'Lunar day from', 'High', 'at', 'Low', 'at', 'Range', 'Readings'].map((t) => h('th', {}, t)))), h('tbody', {}, rows));
}
