/** Overview: one card per destination, the unrouted count, one row per stream with its markers. */
import { h, svg } from './dom.ts';
import { ago, chartGeometry, orderedCounts, PENDING, sumOf } from './model.ts';
import type { DestinationStatus, Marker, StatusResponse, StreamsResponse } from './types.ts';
import { badge, time } from './widgets.ts';

export function chart(d: DestinationStatus, now: Date): SVGElement {
  const g = chartGeometry(d.perMinute, now);
  const label = `${d.name}, last hour: ${g.totals.delivered} delivered, ${g.totals.failed} failed (peak ${g.max} a minute)`;
  return svg(
    'svg',
    {
      class: 'chart',
      viewBox: `0 0 ${g.width} ${g.height}`,
      preserveAspectRatio: 'none',
      role: 'img',
      'aria-label': label,
    },
    svg('title', {}, label),
    svg('line', { x1: 0, y1: g.height - 0.5, x2: g.width, y2: g.height - 0.5, class: 'axis' }),
    svg('polyline', { points: g.delivered, class: 'delivered' }),
    svg('polyline', { points: g.failed, class: 'failed' }),
  );
}

function card(d: DestinationStatus, now: Date): HTMLElement {
  const id = `dest-${d.name.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  const counts = orderedCounts(d.counts);
  return h(
    'article',
    { class: `card state-${d.state}`, 'aria-labelledby': id, 'data-destination': d.name },
    h(
      'header',
      {},
      h('h3', { id }, d.name),
      h('span', { class: 'vendor' }, d.vendor),
      h('span', { class: `state state-${d.state}`, 'data-testid': 'state' }, d.state),
    ),
    d.stateReason
      ? h(
          'p',
          { class: 'reason' },
          `${d.stateReason.code}: ${d.stateReason.message} — since `,
          time(d.stateReason.since),
        )
      : null,
    h(
      'ul',
      { class: 'counts', 'aria-label': `${d.name} deliveries by status` },
      counts.length === 0 ? h('li', { class: 'muted' }, 'no deliveries yet') : null,
      counts.map(([s, n]) => h('li', { 'data-status': s }, badge(s), h('span', { class: 'n' }, n))),
    ),
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'Last success'),
      h(
        'dd',
        { 'data-testid': 'last-success' },
        d.lastSuccess
          ? [time(d.lastSuccess.at), ' ', h('span', { class: 'muted' }, `(${ago(d.lastSuccess.at, now)})`)]
          : 'none',
      ),
      h('dt', {}, 'Last error'),
      h(
        'dd',
        { 'data-testid': 'last-error' },
        d.lastError
          ? [
              h('code', {}, d.lastError.code),
              ' ',
              time(d.lastError.at),
              h('div', { class: 'msg' }, d.lastError.message),
            ]
          : 'none',
      ),
      h('dt', {}, 'Pending'),
      h(
        'dd',
        {},
        String(sumOf(d.counts, PENDING)),
        d.oldestPendingAgeSeconds !== null && d.oldestPendingAgeSeconds !== undefined
          ? h('span', { class: 'muted' }, ` (oldest ${d.oldestPendingAgeSeconds} s)`)
          : null,
      ),
      h('dt', {}, 'DLQ depth'),
      h('dd', { class: d.dlqDepth > 0 ? 'tone-bad' : '', 'data-testid': 'dlq' }, String(d.dlqDepth)),
    ),
    h(
      'figure',
      {},
      chart(d, now),
      h(
        'figcaption',
        {},
        h('span', { class: 'key-delivered' }, 'delivered'),
        ' / ',
        h('span', { class: 'key-failed' }, 'failed'),
        ' per minute, last hour',
      ),
    ),
  );
}

/** FactoryTX-shaped markers: level, the component that raised it, the message, when. */
function markerList(markers: readonly Marker[], testId?: string): HTMLElement {
  return h(
    'ul',
    { class: 'markers', ...(testId ? { 'data-testid': testId } : {}) },
    markers.map((m) =>
      h(
        'li',
        { class: `marker level-${m.level}`, 'data-category': m.category },
        h('span', { class: 'level' }, m.level),
        ` ${m.component}: ${m.message} `,
        time(m.timestamp),
      ),
    ),
  );
}

export function renderOverview(status: StatusResponse, streams: StreamsResponse, now: Date): HTMLElement {
  return h(
    'div',
    {},
    h(
      'section',
      { 'aria-labelledby': 'h-destinations' },
      h('h2', { id: 'h-destinations' }, 'Destinations'),
      h(
        'div',
        { class: 'cards' },
        status.destinations.map((d) => card(d, now)),
        h(
          'article',
          { class: 'card unrouted', 'aria-labelledby': 'dest-unrouted', 'data-destination': '(unrouted)' },
          h(
            'header',
            {},
            h('h3', { id: 'dest-unrouted' }, 'Unrouted'),
            h('span', { class: 'vendor' }, 'no stream matched'),
          ),
          h(
            'p',
            { class: 'big', 'data-testid': 'unrouted-count' },
            String(status.unrouted.count),
            h('span', { class: 'muted' }, status.unrouted.count === 1 ? ' key' : ' keys'),
          ),
          status.unrouted.lastAt ? h('p', {}, 'last ', time(status.unrouted.lastAt)) : null,
          streams.unrouted?.marker ? markerList([streams.unrouted.marker], 'unrouted-marker') : null,
        ),
      ),
    ),
    h(
      'section',
      { 'aria-labelledby': 'h-streams' },
      h('h2', { id: 'h-streams' }, 'Streams'),
      h(
        'table',
        { class: 'streams' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['Stream', 'Receiver', 'Destinations', 'Last object', 'Last delivered', 'Markers'].map((t) =>
              h('th', { scope: 'col' }, t),
            ),
          ),
        ),
        h(
          'tbody',
          {},
          streams.streams.map((s) =>
            h(
              'tr',
              { 'data-stream': s.id },
              h('th', { scope: 'row' }, s.id),
              h('td', {}, s.receiver),
              h('td', {}, s.destinations.join(', ')),
              h('td', {}, time(s.lastObjectAt)),
              h('td', {}, time(s.lastDeliveredAt)),
              h(
                'td',
                {},
                s.markers.length === 0 ? h('span', { class: 'muted' }, 'none') : markerList(s.markers),
              ),
            ),
          ),
        ),
      ),
    ),
  );
}
