/** Failures: REJECTED / FAILED / DEAD / UNROUTED (and the other failure statuses) grouped by code, expandable. */
import { restreamWithConfirm } from './actions.ts';
import { api, listAll } from './api.ts';
import { h } from './dom.ts';
import {
  FAILURE,
  type FailureGroup,
  groupFailures,
  restreamBodyForGroup,
  UNROUTED_DESTINATION,
} from './model.ts';
import type { Delivery, StatusResponse } from './types.ts';
import { badge, time } from './widgets.ts';

const CAP = 1000;

/** Reads each failure listing the status counts say is non-empty (index reads, never a scan). */
export async function loadFailures(): Promise<FailureGroup[]> {
  const status = await api<StatusResponse>('/v1/status');
  const reads: { destination: string; status: string }[] = [];
  for (const d of status.destinations)
    for (const s of FAILURE) if ((d.counts[s] ?? 0) > 0) reads.push({ destination: d.name, status: s });
  if (status.unrouted.count > 0) reads.push({ destination: UNROUTED_DESTINATION, status: 'UNROUTED' });
  const truncated = new Set<string>();
  const lists = await Promise.all(
    reads.map(async (r) => {
      const page = await listAll<Delivery>('/v1/deliveries', new URLSearchParams(r), CAP);
      if (page.truncated) truncated.add(`${r.destination}|${r.status}`);
      return page.items;
    }),
  );
  return groupFailures(lists.flat(), truncated);
}

export function renderFailures(groups: FailureGroup[], refresh: () => void): HTMLElement {
  if (groups.length === 0) return h('p', { class: 'big tone-ok' }, 'No failures.');
  return h(
    'div',
    { class: 'failures' },
    groups.map((g) => {
      const out = h('div', { class: 'out' });
      const n = `${g.items.length}${g.truncated ? '+' : ''}`;
      return h(
        'details',
        { class: 'group', 'data-group': g.id, 'data-code': g.code },
        h(
          'summary',
          {},
          h('span', { class: 'n' }, n),
          ' ',
          badge(g.status),
          ' ',
          h('code', { class: 'code' }, g.code),
          ' at ',
          h('strong', {}, g.destination),
          g.message ? h('span', { class: 'msg' }, ` — ${g.message}`) : null,
        ),
        h(
          'div',
          { class: 'group-body' },
          h(
            'button',
            {
              type: 'button',
              'aria-label': `Restream ${g.items.length} ${g.status} ${g.code} at ${g.destination}`,
              onclick: () => {
                const { requestId: _, ...body } = restreamBodyForGroup(g, 'x');
                void restreamWithConfirm(
                  body,
                  `the ${g.status} ${g.code} group at ${g.destination}`,
                  out,
                  refresh,
                );
              },
            },
            'Restream this group…',
          ),
          out,
          h(
            'table',
            { class: 'grid' },
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                ['Key', 'Serial', 'Settled', 'Message'].map((t) => h('th', { scope: 'col' }, t)),
              ),
            ),
            h(
              'tbody',
              {},
              g.items.map((d) =>
                h(
                  'tr',
                  {},
                  h('td', {}, h('a', { href: `#find?q=${encodeURIComponent(d.key)}` }, h('code', {}, d.key))),
                  h(
                    'td',
                    {},
                    d.serial ? h('a', { href: `#find?q=${encodeURIComponent(d.serial)}` }, d.serial) : '—',
                  ),
                  h('td', {}, time(d.updatedAt)),
                  h('td', {}, d.lastError?.message ?? d.notice?.message ?? ''),
                ),
              ),
            ),
          ),
        ),
      );
    }),
  );
}
