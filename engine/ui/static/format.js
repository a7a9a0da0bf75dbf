// Formatting shared by the views. Times are shown in UTC, always with the zone.

const numberFormat = new Intl.NumberFormat('en-US');

/** 12,345 */
export function count(value) {
  return value === null || value === undefined ? '–' : numberFormat.format(Math.round(value));
}

/** 1.234 m */
export function metres(value, digits = 3) {
  return value === null || value === undefined || !Number.isFinite(value) ? '–' : `${value.toFixed(digits)} m`;
}

/** 2019-03-01 12:30Z */
export function utc(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  return new Date(ms).toISOString().slice(0, 16).replace('T', ' ') + 'Z';
}

/** 850 ms, 42 s, 12 min, 5.2 h, 3.1 d */
export function age(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`;
  if (ms < 86_400_000) return `${(ms / 3_600_000).toFixed(1)} h`;
  return `${(ms / 86_400_000).toFixed(1)} d`;
}

/** 1.2 MB */
export function bytes(value) {
  if (value === null || value === undefined) return '–';
  if (value < 1024) return `${value} B`;
  if (value < 1024 * 1024) return `${(value / 1024).toFixed(1)} KB`;
  return `${(value / 1024 / 1024).toFixed(1)} MB`;
}

/** An element with attributes and children (strings become text, never HTML). */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** Fetches JSON from the API; a failed answer throws with the server's message. */
export async function getJson(url) {
  const response = await fetch(url);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error ?? `${url}: HTTP ${response.status}`);
  return body;
}

/**
 * Colour-blind-safe colours (Okabe and Ito) with a dash pattern each, so series
 * differ without colour too; the legend names them.
 */
export const SERIES_STYLES = [
  { stroke: '#0072B2', dash: [] },
  { stroke: '#D55E00', dash: [8, 4] },
  { stroke: '#009E73', dash: [2, 3] },
  { stroke: '#CC79A7', dash: [10, 3, 2, 3] },
  { stroke: '#E69F00', dash: [4, 4] },
  { stroke: '#56B4E9', dash: [12, 6] },
  { stroke: '#000000', dash: [1, 4] },
];
