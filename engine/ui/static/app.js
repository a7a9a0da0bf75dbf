// The page: two views (Jobs, Tides) switched by the address' hash, one
// server-sent event stream for live updates. Nothing here polls the server.
import { JobsView } from './jobs.js';
import { TidesView } from './tides.js';

const views = { jobs: null, tides: null };
const connection = document.getElementById('connection');

/** Handles for tests and for whoever opens the console: the views and their charts. */
window.tideflow = { views, marks: {} };

function mark(name) {
  performance.mark(`tideflow:${name}`);
  window.tideflow.marks[name] = performance.now();
  document.documentElement.dataset[name] = 'true';
}

async function show(name) {
  const target = name === 'tides' ? 'tides' : 'jobs';
  for (const view of ['jobs', 'tides']) {
    document.getElementById(`view-${view}`).hidden = view !== target;
    const link = document.getElementById(`nav-${view}`);
    if (view === target) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.title = `tideflow: ${target === 'jobs' ? 'Jobs' : 'Tides'}`;
  if (target === 'jobs' && !views.jobs) {
    views.jobs = new JobsView(document.getElementById('view-jobs'));
    await views.jobs.load();
    mark('jobsReady');
  }
  if (target === 'tides') {
    if (!views.tides) {
      views.tides = new TidesView(document.getElementById('view-tides'));
      await views.tides.load();
      mark('tidesReady');
    } else {
      views.tides.resize();
    }
  }
}

function connect() {
  const events = new EventSource('/api/events');
  events.addEventListener('open', () => {
    connection.textContent = 'live';
  });
  events.addEventListener('error', () => {
    connection.textContent = events.readyState === EventSource.CLOSED ? 'disconnected: reload the page when the server is back' : 'reconnecting…';
  });
  events.addEventListener('job', (event) => {
    const { view, point } = JSON.parse(event.data);
    views.jobs?.update(view, point);
  });
  events.addEventListener('results', (event) => {
    views.tides?.resultsChanged(JSON.parse(event.data));
  });
}

window.addEventListener('hashchange', () => {
  show(location.hash.slice(1)).catch(reportError);
  document.getElementById('main').focus();
});
window.addEventListener('resize', () => {
  views.jobs?.resize();
  views.tides?.resize();
});

function reportError(error) {
  connection.textContent = `error: ${error.message}`;
  // Shown on the page and in the console: a failure must never be silent.
  console.error(error);
}

connect();
show(location.hash.slice(1)).catch(reportError);
