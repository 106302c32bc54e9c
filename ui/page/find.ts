/** Find: a serial, a key or the start of one → every delivery of that unit, each with its timeline. */
import { api, listAll, objectUrl } from './api.ts';
import { h, mount } from './dom.ts';
import { byObject, mediaKind, searchParamsFor } from './model.ts';
import type { Delivery, DeliveryDetail } from './types.ts';
import { announce, badge, errorBox, time } from './widgets.ts';

function media(d: Delivery, which: 'source' | 'result', key: string): HTMLElement | null {
  const kind = mediaKind(key);
  const src = objectUrl(d.id, which);
  const alt = `${which === 'result' ? 'result of ' : ''}${key}`;
  if (kind === 'image')
    return h('a', { href: src, target: '_blank' }, h('img', { src, alt, loading: 'lazy' }));
  if (kind === 'video') return h('video', { src, controls: true, preload: 'metadata', 'aria-label': alt });
  return h('a', { href: src, target: '_blank' }, `open ${alt}`);
}

function timeline(detail: DeliveryDetail): HTMLElement {
  return h(
    'ol',
    { class: 'timeline', 'aria-label': `timeline of ${detail.destination ?? 'unrouted'}` },
    detail.history.map((e) =>
      h(
        'li',
        { 'data-status': e.status },
        time(e.at),
        ' ',
        badge(e.status),
        e.code ? [' ', h('code', {}, e.code)] : null,
        e.attempt !== undefined ? h('span', { class: 'muted' }, ` attempt ${e.attempt}`) : null,
        e.message ? h('div', { class: 'msg' }, e.message) : null,
      ),
    ),
  );
}

function deliveryBlock(d: Delivery): HTMLElement {
  const body = h('div', { class: 'detail' }, h('p', { class: 'muted' }, 'loading timeline…'));
  api<DeliveryDetail>(`/v1/deliveries/${encodeURIComponent(d.id)}`)
    .then((detail) =>
      mount(
        body,
        h(
          'dl',
          { class: 'facts' },
          h('dt', {}, 'Vendor reference'),
          h('dd', { 'data-testid': 'vendor-ref' }, detail.vendorRef ? h('code', {}, detail.vendorRef) : '—'),
          h('dt', {}, 'Attempts'),
          h('dd', {}, String(detail.attempts)),
          detail.lastError
            ? [
                h('dt', {}, 'Error'),
                h(
                  'dd',
                  { 'data-testid': 'error' },
                  h('code', {}, detail.lastError.code),
                  detail.lastError.httpStatus ? ` (HTTP ${detail.lastError.httpStatus})` : '',
                  h('div', { class: 'msg' }, detail.lastError.message),
                ),
              ]
            : null,
          detail.notice
            ? [
                h('dt', {}, 'Notice'),
                h('dd', {}, h('code', {}, detail.notice.code), ` ${detail.notice.message}`),
              ]
            : null,
          detail.sidecar ? [h('dt', {}, 'Sidecar'), h('dd', {}, detail.sidecar)] : null,
          detail.nextCheckAt ? [h('dt', {}, 'Next check'), h('dd', {}, time(detail.nextCheckAt))] : null,
          detail.restream
            ? [h('dt', {}, 'Restream'), h('dd', {}, `request ${detail.restream.requestId}`)]
            : null,
          detail.resultKey
            ? [
                h('dt', {}, 'Result'),
                h(
                  'dd',
                  { 'data-testid': 'result' },
                  h('code', {}, detail.resultKey),
                  media(detail, 'result', detail.resultKey),
                ),
              ]
            : null,
        ),
        timeline(detail),
        detail.vendorDetail !== undefined
          ? h(
              'details',
              {},
              h('summary', {}, 'Vendor answer'),
              h('pre', {}, JSON.stringify(detail.vendorDetail, null, 2)),
            )
          : null,
      ),
    )
    .catch((err: unknown) => mount(body, errorBox(err)));
  return h(
    'article',
    {
      class: 'delivery',
      'data-destination': d.destination ?? '(unrouted)',
      'aria-label': `${d.destination ?? 'unrouted'}: ${d.status}`,
    },
    h(
      'header',
      {},
      h('h4', {}, d.destination ?? 'unrouted'),
      d.vendor ? h('span', { class: 'vendor' }, d.vendor) : null,
      badge(d.status),
      d.lastError ? h('code', { class: 'code' }, d.lastError.code) : null,
    ),
    body,
  );
}

export function renderFind(initial: string, go: (q: string) => void): HTMLElement {
  const input = h('input', {
    id: 'find-q',
    type: 'search',
    name: 'q',
    value: initial,
    placeholder: 'SN-1001 or line-1/aoi-top/SN-1001_',
    autocomplete: 'off',
    spellcheck: false,
  });
  const out = h('div', { id: 'find-results', 'aria-live': 'polite' });
  const form = h(
    'form',
    {
      class: 'find',
      role: 'search',
      onsubmit: (e) => {
        e.preventDefault();
        go(input.value.trim());
      },
    },
    h('label', { for: 'find-q' }, 'Serial, key, or the start of a key'),
    input,
    h('button', { type: 'submit', class: 'primary' }, 'Find'),
  );
  const view = h('div', {}, form, out);
  const params = searchParamsFor(initial);
  if (params) {
    mount(out, h('p', { class: 'muted' }, `searching ${initial}…`));
    listAll<Delivery>('/v1/deliveries', params, 500)
      .then(({ items, truncated }) => {
        const objects = byObject(items);
        announce(`${items.length} deliveries of ${objects.length} objects for ${initial}`);
        mount(
          out,
          h(
            'p',
            { class: 'summary', 'data-testid': 'find-summary' },
            `${items.length} ${items.length === 1 ? 'delivery' : 'deliveries'} of ${objects.length} ${objects.length === 1 ? 'object' : 'objects'}`,
            truncated ? ' (first 500 shown)' : '',
          ),
          objects.length === 0 ? h('p', {}, `Nothing found for “${initial}”.`) : null,
          objects.map((o) =>
            h(
              'section',
              { class: 'object', 'aria-label': o.key },
              h(
                'header',
                {},
                h('h3', {}, h('code', {}, o.key)),
                o.versionId ? h('span', { class: 'muted' }, ` version ${o.versionId}`) : null,
                o.items[0]?.serial ? h('span', { class: 'muted' }, ` serial ${o.items[0].serial}`) : null,
                o.items[0]?.stream ? h('span', { class: 'muted' }, ` stream ${o.items[0].stream}`) : null,
              ),
              h(
                'div',
                { class: 'object-body' },
                o.items[0] ? h('div', { class: 'media' }, media(o.items[0], 'source', o.key)) : null,
                h('div', { class: 'deliveries' }, o.items.map(deliveryBlock)),
              ),
            ),
          ),
        );
      })
      .catch((err: unknown) => mount(out, errorBox(err)));
  }
  queueMicrotask(() => input.focus());
  return view;
}
