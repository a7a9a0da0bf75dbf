// Jobs view: one card per job, updated in place from server-sent events.
import uPlot from 'uplot';
import { age, bytes, count, getJson, h, utc } from './format.js';

const HISTORY_POINTS = 900;

export class JobsView {
  constructor(root) {
    this.root = root;
    this.list = root.querySelector('#jobs-list');
    this.error = root.querySelector('#jobs-error');
    /** job name -> { view, points, card, parts, chart } */
    this.jobs = new Map();
    // Ages ("checkpoint 12 s ago") move with the clock, not with the server: recomputed here each second.
    this.clock = setInterval(() => this.tick(), 1000);
  }

  async load() {
    const [jobs, metrics] = await Promise.all([getJson('/api/jobs'), getJson('/api/metrics')]);
    this.error.hidden = !jobs.storeError;
    this.error.textContent = jobs.storeError ?? '';
    // Events may have added cards while this loaded: only the placeholder goes.
    this.list.querySelector('#jobs-loading')?.remove();
    if (jobs.jobs.length === 0 && this.jobs.size === 0) this.list.append(h('p', { id: 'no-jobs' }, 'No jobs: none runs in this process and the checkpoint stores hold none. Start one with `tideflow run <job.yaml> --ui-port 8080`.'));
    for (const view of jobs.jobs) {
      const known = this.jobs.get(view.job);
      // A card an event made first has no history yet: take the server's, then this view.
      if (known && known.points.length < (metrics.jobs[view.job]?.length ?? 0)) known.points = [...metrics.jobs[view.job]];
      this.update(view, null, metrics.jobs[view.job] ?? []);
    }
  }

  /** A job changed (from the event stream, or the first load with its history). */
  update(view, point, history) {
    let job = this.jobs.get(view.job);
    if (!job) {
      this.list.querySelector('#no-jobs')?.remove();
      job = this.create(view, history ?? []);
    }
    job.view = view;
    job.receivedAt = Date.now();
    if (point) {
      job.points.push(point);
      if (job.points.length > HISTORY_POINTS) job.points.shift();
    }
    this.render(job);
  }

  create(view, points) {
    const parts = {
      state: h('span', { class: 'state', 'data-fact': 'state' }),
      reason: h('span', { class: 'reason', 'data-fact': 'reason' }),
      where: h('p', { class: 'hint' }),
      stall: h('div', { class: 'stall', role: 'alert', hidden: true }),
      facts: h('dl', { class: 'facts' }),
      chartBox: h('div', { class: 'chart' }),
      chartSummary: h('p', { class: 'hint' }),
      chartTable: h('div'),
      side: h('div', { class: 'side' }),
    };
    const id = `job-${view.job.replace(/[^A-Za-z0-9_-]/g, '_')}`;
    const card = h(
      'article',
      { class: 'job', id, 'data-job': view.job, 'aria-labelledby': `${id}-title` },
      h('div', { class: 'job-head' }, h('h3', { id: `${id}-title` }, view.job), parts.state, parts.reason),
      parts.where,
      parts.stall,
      parts.facts,
      h(
        'div',
        { class: 'job-body' },
        h('figure', {}, h('figcaption', {}, h('h4', {}, 'Records per second'), parts.chartSummary), parts.chartBox, h('details', {}, h('summary', {}, 'Records per second as a table'), parts.chartTable)),
        parts.side,
      ),
    );
    this.list.append(card);
    const job = { view, points: [...points], card, parts, chart: null };
    this.jobs.set(view.job, job);
    return job;
  }

  render(job) {
    const { view, parts, card } = job;
    const stateClass = view.state.replace(/\s+/g, '-');
    card.dataset.state = view.state;
    parts.state.className = `state state-${stateClass}`;
    parts.state.textContent = view.state;
    parts.reason.textContent = view.stateReason;
    parts.where.textContent = [`seen in ${view.seenIn}`, view.instance && `instance ${view.instance}`, view.source && `reads ${view.source}`, view.startedAt && `started ${utc(view.startedAt)}`, view.endedAt && `ended ${utc(view.endedAt)}`].filter(Boolean).join(' · ');
    parts.stall.hidden = !view.stall;
    parts.stall.textContent = view.stall ? `Stall report (${utc(view.stall.at)}): ${view.stall.report}` : '';
    this.renderFacts(job);
    this.renderChart(job);
    this.renderSide(job);
  }

  renderFacts(job) {
    const { view } = job;
    const c = view.counters;
    const checkpoint = view.checkpoint;
    const watermark = view.watermarkEnded ? 'end of input' : utc(view.watermark);
    const facts = [
      ['records-in', 'Records in', count(c?.recordsIn)],
      ['rate', 'Records/s', view.recordsPerSecond === null ? '–' : count(view.recordsPerSecond)],
      ['results', 'Results out', count(c?.resultsOut)],
      ['watermark', 'Watermark (event time)', watermark],
      ['watermark-delay', 'Watermark delay (wall clock − watermark)', age(this.delay(job))],
      ['checkpoint-epoch', 'Last checkpoint: epoch', checkpoint ? count(checkpoint.epoch) : 'none yet'],
      ['checkpoint-age', 'Last checkpoint: age', checkpoint ? `${age(Date.now() - checkpoint.at)} ago` : '–'],
      ['checkpoint-duration', 'Last checkpoint: duration', checkpoint?.durationMs === null || checkpoint?.durationMs === undefined ? '–' : age(checkpoint.durationMs)],
      ['checkpoint-size', 'Last checkpoint: size', bytes(checkpoint?.bytes)],
      ['duplicates', 'Duplicates dropped', count(c?.duplicatesDropped)],
      ['dead-letters', 'Dead letters', count(view.deadLetters.total)],
      ['late', 'Late records', count(view.late.total)],
    ];
    job.parts.facts.replaceChildren(...facts.map(([key, label, value]) => h('div', {}, h('dt', {}, label), h('dd', { 'data-fact': key }, value))));
    // A Kafka job runs as one task per partition: each with its own checkpoint and watermark.
    if (view.tasks) {
      job.parts.facts.append(
        h('details', { class: 'tasks' }, h('summary', {}, `Tasks: ${view.tasks.length} (one per partition)`),
          h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Partition'), h('th', {}, 'Instance'), h('th', {}, 'State'), h('th', { class: 'number' }, 'Epoch'), h('th', {}, 'Last checkpoint'), h('th', {}, 'Watermark'), h('th', { class: 'number' }, 'Records in'))),
            h('tbody', {}, view.tasks.map((task) => h('tr', { 'data-task': task.task }, h('td', {}, task.task), h('td', {}, task.instance ?? '–'), h('td', {}, task.state), h('td', { class: 'number' }, task.epoch === null ? '–' : count(task.epoch)), h('td', {}, task.checkpointAt === null ? '–' : `${age(Date.now() - task.checkpointAt)} ago`), h('td', {}, utc(task.watermark)), h('td', { class: 'number' }, count(task.recordsIn))))))),
      );
    }
    if (checkpoint) job.parts.facts.querySelector('[data-fact="checkpoint-age"]').title = `${checkpoint.store}, saved ${utc(checkpoint.at)}`;
  }

  /** The watermark's delay now: the server's figure plus the time since it was sent. */
  delay(job) {
    const { view } = job;
    if (view.watermarkDelayMs === null || view.state === 'stopped') return view.watermarkDelayMs;
    return view.watermarkDelayMs + (Date.now() - job.receivedAt);
  }

  renderChart(job) {
    const points = job.points;
    const data = [points.map((p) => p.t / 1000), points.map((p) => p.recordsPerSecond)];
    const hasLag = points.some((p) => p.lagTotal !== null);
    if (hasLag) data.push(points.map((p) => p.lagTotal));
    const rates = data[1];
    job.parts.chartSummary.textContent =
      points.length === 0
        ? job.view.seenIn === 'this process' ? 'No reports yet.' : 'No live figures: this job is known from its checkpoints only.'
        : `${points.length} reports since ${utc(points[0].t)}; latest ${count(rates[rates.length - 1])} records/s, peak ${count(Math.max(...rates))}.`;
    job.parts.chartTable.replaceChildren(
      h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Time (UTC)'), h('th', { class: 'number' }, 'Records/s'), hasLag ? h('th', { class: 'number' }, 'Records waiting') : null)),
        h('tbody', {}, points.slice(-30).reverse().map((p) => h('tr', {}, h('td', {}, new Date(p.t).toISOString().slice(11, 19)), h('td', { class: 'number' }, count(p.recordsPerSecond)), hasLag ? h('td', { class: 'number' }, count(p.lagTotal)) : null)))),
    );
    if (points.length === 0) return;
    if (job.chart && job.chart.series.length !== data.length) {
      job.chart.destroy();
      job.chart = null;
    }
    if (!job.chart) {
      const series = [{}, { label: 'records/s', stroke: '#0072B2', width: 2, value: (_u, v) => count(v) }];
      const axes = [{}, { label: 'records/s', size: 60, values: (_u, values) => values.map((v) => count(v)) }];
      if (hasLag) {
        series.push({ label: 'records waiting', stroke: '#D55E00', dash: [6, 3], width: 2, scale: 'lag', value: (_u, v) => count(v) });
        axes.push({ scale: 'lag', side: 1, label: 'waiting', grid: { show: false }, values: (_u, values) => values.map((v) => count(v)) });
      }
      job.chart = new uPlot(
        { width: this.chartWidth(job), height: 180, series, axes, tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC'), scales: { x: { time: true } } },
        data,
        job.parts.chartBox,
      );
    } else {
      job.chart.setData(data);
    }
  }

  renderSide(job) {
    const { view } = job;
    // Rebuilt only when it changed, and with the reader's open samples kept open.
    const key = JSON.stringify([view.lag, view.deadLetters, view.late]);
    if (key === job.sideKey) return;
    job.sideKey = key;
    const open = new Set([...job.parts.side.querySelectorAll('details[open]')].map((details) => details.dataset.key));
    const lag = view.lag ? Object.entries(view.lag).sort((a, b) => b[1] - a[1]) : null;
    const largest = lag && lag.length > 0 ? Math.max(1, lag[0][1]) : 1;
    job.parts.side.replaceChildren(
      h('h4', {}, 'Consumer lag per partition'),
      lag === null
        ? h('p', { class: 'hint' }, 'The source reports no lag (a file or the generator reads at its own pace).')
        : h('table', { 'data-table': 'lag' }, h('thead', {}, h('tr', {}, h('th', {}, 'Partition'), h('th', { class: 'number' }, 'Records waiting'), h('th', { 'aria-hidden': 'true' }, ''))),
            h('tbody', {}, lag.map(([partition, records]) => h('tr', {}, h('td', {}, partition), h('td', { class: 'number' }, count(records)), h('td', { 'aria-hidden': 'true' }, h('span', { class: 'bar', style: `width:${Math.round((records / largest) * 80)}px` })))))),
      sideOutput('Dead letters', view.deadLetters),
      sideOutput('Late records', view.late),
    );
    for (const details of job.parts.side.querySelectorAll('details')) if (open.has(details.dataset.key)) details.open = true;
  }

  tick() {
    for (const job of this.jobs.values()) {
      const checkpoint = job.view.checkpoint;
      const ageCell = job.parts.facts.querySelector('[data-fact="checkpoint-age"]');
      if (checkpoint && ageCell) ageCell.textContent = `${age(Date.now() - checkpoint.at)} ago`;
      const delayCell = job.parts.facts.querySelector('[data-fact="watermark-delay"]');
      if (delayCell) delayCell.textContent = age(this.delay(job));
    }
  }

  chartWidth(job) {
    return Math.max(280, job.parts.chartBox.clientWidth || job.card.clientWidth * 0.6);
  }

  resize() {
    for (const job of this.jobs.values()) job.chart?.setSize({ width: this.chartWidth(job), height: 180 });
  }
}

/** Per-minute counts (last hour) as a small table with bars, and the latest reasons with a sample record. */
function sideOutput(title, output) {
  const minutes = output.perMinute.slice(-10).reverse();
  const largest = Math.max(1, ...minutes.map(([, n]) => n));
  return h(
    'section',
    { 'aria-label': title },
    h('h4', {}, `${title}: ${count(output.total)} in total`),
    minutes.length === 0
      ? h('p', { class: 'hint' }, 'None in the last hour.')
      : h('table', {}, h('caption', { class: 'hint' }, 'Per minute (UTC), latest first'), h('tbody', {}, minutes.map(([minute, n]) => h('tr', {}, h('td', {}, new Date(minute).toISOString().slice(11, 16)), h('td', { class: 'number' }, count(n)), h('td', { 'aria-hidden': 'true' }, h('span', { class: 'bar', style: `width:${Math.round((n / largest) * 80)}px` })))))),
    output.latest.length === 0
      ? null
      : h('ul', {}, output.latest.map((entry) => h('li', {}, h('strong', {}, entry.reason), entry.where ? ` (${entry.where})` : '', ` at ${utc(entry.at)}`, h('details', { 'data-key': `${title}|${entry.at}|${entry.reason}` }, h('summary', {}, 'sample record'), h('pre', {}, entry.sample))))),
  );
}
