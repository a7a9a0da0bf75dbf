// The station map: a bundled Natural Earth coastline (world-atlas, 1:50m) drawn
// with d3-geo, every station as a circle whose area and label give its latest
// tidal range. No map service, no tiles: everything comes from this server.
import { geoConicEqualArea, geoPath } from 'd3-geo';
import feature from 'topojson-client/feature';
import { h, metres, utc } from './format.js';

const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 960;
const HEIGHT = 520;

function svg(tag, attributes = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) if (value !== null && value !== undefined) element.setAttribute(name, String(value));
  for (const child of children) element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return element;
}

let land = null;

/**
 * Draws `stations` into `box` (and a table of them into `tableBox`); `onChoose(id)`
 * when one is clicked or chosen with Enter / Space. Returns what was drawn.
 */
export async function drawStationMap(box, tableBox, stations, onChoose) {
  land ??= fetch('/vendor/land-50m.json').then((response) => response.json()).then((topology) => feature(topology, topology.objects.land));
  const placed = stations.filter((station) => station.lat !== null && station.lon !== null);
  const points = { type: 'MultiPoint', coordinates: placed.map((station) => [station.lon, station.lat]) };
  // An equal-area conic centred on the stations: North America from Alaska to the Gulf without Mercator's stretch.
  const lons = placed.map((station) => station.lon);
  const lats = placed.map((station) => station.lat);
  const centre = [(Math.min(...lons) + Math.max(...lons)) / 2, (Math.min(...lats) + Math.max(...lats)) / 2];
  const projection = geoConicEqualArea()
    .rotate([-centre[0], 0])
    .center([0, centre[1]])
    .parallels([Math.min(...lats), Math.max(...lats)])
    .fitExtent([[40, 40], [WIDTH - 40, HEIGHT - 40]], points);
  projection.clipExtent([[0, 0], [WIDTH, HEIGHT]]);
  const path = geoPath(projection);
  const ranges = placed.map((station) => station.latestLunarDay?.range).filter((range) => typeof range === 'number');
  const largest = Math.max(0.1, ...ranges);
  const radius = (range) => 5 + 22 * Math.sqrt(range / largest);

  const markers = placed
    .slice()
    // Big circles first, so small ones stay on top and clickable.
    .sort((a, b) => (b.latestLunarDay?.range ?? 0) - (a.latestLunarDay?.range ?? 0))
    .map((station) => {
      const [x, y] = projection([station.lon, station.lat]);
      const day = station.latestLunarDay;
      const label = day
        ? `${station.name} (${station.id}): latest tidal range ${metres(day.range, 2)} (lunar day from ${utc(Date.parse(day.window_start))})`
        : `${station.name} (${station.id}): no results`;
      const r = day ? radius(day.range) : 5;
      const group = svg(
        'g',
        { class: `station${day ? '' : ' no-data'}`, 'data-station': station.id, tabindex: day ? 0 : -1, role: day ? 'button' : 'img', 'aria-label': label, transform: `translate(${x.toFixed(1)},${y.toFixed(1)})` },
        svg('title', {}, label),
        svg('circle', { r: r.toFixed(1), fill: day ? rangeColour(day.range / largest) : 'none', 'fill-opacity': 0.75 }),
        svg('text', { x: (r + 3).toFixed(1), y: 4 }, day ? `${station.id} ${day.range.toFixed(2)} m` : `${station.id} –`),
      );
      if (day) {
        group.addEventListener('click', () => onChoose(station.id));
        group.addEventListener('keydown', (event) => {
          if (event.key === 'Enter' || event.key === ' ') {
            event.preventDefault();
            onChoose(station.id);
          }
        });
      }
      return group;
    });

  const shape = await land;
  const legend = svg('g', { transform: `translate(20,${HEIGHT - 20})`, 'aria-hidden': 'true' },
    ...[0.25, 0.5, 1].map((share, i) => svg('g', { transform: `translate(${i * 70 + 20},-10)` }, svg('circle', { r: radius(largest * share).toFixed(1), fill: rangeColour(share), 'fill-opacity': 0.75, stroke: '#1b1f24' }), svg('text', { x: 0, y: 40, 'text-anchor': 'middle', 'font-size': 11 }, `${(largest * share).toFixed(1)} m`))));
  const map = svg('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'group', 'aria-label': `Map of ${placed.length} tide stations; each is listed in the table below` },
    svg('path', { class: 'land', d: path(shape) ?? '' }),
    ...markers,
    legend);
  box.replaceChildren(map);

  tableBox.replaceChildren(
    h('table', {}, h('thead', {}, h('tr', {}, ...['Station', 'Name', 'Latitude', 'Longitude', 'Latest range', 'Lunar day from', 'Results from', 'to'].map((t) => h('th', {}, t)))),
      h('tbody', {}, stations.map((station) => h('tr', { 'data-station': station.id }, h('td', {}, station.id), h('td', {}, station.name), h('td', { class: 'number' }, station.lat?.toFixed(4) ?? '–'), h('td', { class: 'number' }, station.lon?.toFixed(4) ?? '–'),
        h('td', { class: 'number' }, metres(station.latestLunarDay?.range ?? null, 2)), h('td', {}, station.latestLunarDay ? utc(Date.parse(station.latestLunarDay.window_start)) : '–'),
        h('td', {}, station.first?.slice(0, 10) ?? 'no results'), h('td', {}, station.last?.slice(0, 10) ?? '–'))))),
  );
  return { stations: placed.map((station) => station.id), svg: map };
}

/** Light to dark blue with the range (the size and the label say it too). */
function rangeColour(share) {
  const t = Math.max(0, Math.min(1, share));
  const mix = (a, b) => Math.round(a + (b - a) * t);
  return `rgb(${mix(198, 8)},${mix(219, 48)},${mix(239, 107)})`;
}
