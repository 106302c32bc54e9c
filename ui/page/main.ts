/**
 * The ops page: four views behind hash routes (#overview, #find?q=…, #failures, #actions) so every view has a
 * URL (two clicks from the overview to one unit's story, and a link to paste in a chat). Keys: 1–4 switch views,
 * `/` jumps to the search box, `r` refreshes.
 */

import { renderActions } from './actions.ts';
import { api } from './api.ts';
import { h, mount } from './dom.ts';
import { loadFailures, renderFailures } from './failures.ts';
import { renderFind } from './find.ts';
import { ago } from './model.ts';
import { renderOverview } from './overview.ts';
import type { StatusResponse, StreamsResponse } from './types.ts';
import { errorBox } from './widgets.ts';

const VIEWS = [
  { id: 'overview', label: 'Overview' },
  { id: 'find', label: 'Find' },
  { id: 'failures', label: 'Failures' },
  { id: 'actions', label: 'Actions' },
] as const;
type ViewId = (typeof VIEWS)[number]['id'];

/** How often the overview reloads itself (ms); `?refresh=N` (seconds) changes it. */
const REFRESH_MS = Math.max(1, Number(new URLSearchParams(location.search).get('refresh') ?? 5)) * 1000;

const main = document.getElementById('main') as HTMLElement;
const stamp = document.getElementById('updated') as HTMLElement;
let lastUpdate: Date | undefined;
let timer: ReturnType<typeof setTimeout> | undefined;
let generation = 0;

function route(): { view: ViewId; q: string } {
  const [name = 'overview', query = ''] = location.hash.replace(/^#/, '').split('?');
  const view = (VIEWS.find((v) => v.id === name)?.id ?? 'overview') as ViewId;
  return { view, q: new URLSearchParams(query).get('q') ?? '' };
}

function nav(current: ViewId): void {
  const el = document.getElementById('nav') as HTMLElement;
  mount(
    el,
    h(
      'ul',
      {},
      VIEWS.map((v, i) =>
        h(
          'li',
          {},
          h(
            'a',
            {
              href: `#${v.id}`,
              'aria-current': v.id === current ? 'page' : null,
              'aria-keyshortcuts': String(i + 1),
            },
            v.label,
          ),
        ),
      ),
    ),
  );
}

function tick(): void {
  stamp.textContent = lastUpdate ? `updated ${ago(lastUpdate.toISOString(), new Date())}` : '';
}

async function render(): Promise<void> {
  const mine = ++generation;
  clearTimeout(timer);
  const { view, q } = route();
  nav(view);
  document.title = `${VIEWS.find((v) => v.id === view)!.label} · factory-relay`;
  const stillMine = () => mine === generation;
  try {
    if (view === 'overview') {
      const [status, streams] = await Promise.all([
        api<StatusResponse>('/v1/status'),
        api<StreamsResponse>('/v1/streams'),
      ]);
      if (!stillMine()) return;
      mount(main, renderOverview(status, streams, new Date()));
      lastUpdate = new Date();
      main.setAttribute('data-generated', status.generatedAt);
      timer = setTimeout(() => {
        if (document.visibilityState === 'visible' && !document.querySelector('dialog[open]')) void render();
        else timer = setTimeout(() => void render(), REFRESH_MS);
      }, REFRESH_MS);
    } else if (view === 'find') {
      mount(
        main,
        renderFind(q, (next) => {
          location.hash = `#find?q=${encodeURIComponent(next)}`;
        }),
      );
      lastUpdate = new Date();
    } else if (view === 'failures') {
      mount(main, h('p', { class: 'muted' }, 'loading failures…'));
      const groups = await loadFailures();
      if (!stillMine()) return;
      mount(
        main,
        renderFailures(groups, () => void render()),
      );
      lastUpdate = new Date();
    } else {
      const el = await renderActions(() => void render());
      if (!stillMine()) return;
      mount(main, el);
      lastUpdate = new Date();
    }
    main.setAttribute('data-view', view);
    main.setAttribute('aria-busy', 'false');
  } catch (err) {
    if (!stillMine()) return;
    mount(main, errorBox(err));
    main.setAttribute('data-view', view);
    if (view === 'overview') timer = setTimeout(() => void render(), REFRESH_MS);
  }
  tick();
}

window.addEventListener('hashchange', () => void render());
document.addEventListener('keydown', (e) => {
  const t = e.target as HTMLElement;
  if (e.ctrlKey || e.metaKey || e.altKey || ['INPUT', 'SELECT', 'TEXTAREA'].includes(t.tagName)) return;
  if (document.querySelector('dialog[open]')) return;
  const n = Number(e.key);
  if (n >= 1 && n <= VIEWS.length) location.hash = `#${VIEWS[n - 1]!.id}`;
  else if (e.key === '/') {
    e.preventDefault();
    if (route().view === 'find') document.getElementById('find-q')?.focus();
    else location.hash = '#find';
  } else if (e.key === 'r') void render();
});
setInterval(tick, 1000);
(document.getElementById('refresh') as HTMLButtonElement).addEventListener('click', () => void render());
void render();
