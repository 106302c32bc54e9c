/**
 * Actions: restream (a stream and a time range, or a failure group), stop/start a destination, redrive a
 * dead-letter queue. Each asks the API how many objects it touches first (a restream dry run, the destination's
 * counts, the queue's depth) and says that number in its confirmation.
 */
import { api } from './api.ts';
import { h, mount } from './dom.ts';
import { newRequestId, restreamBodyForStream, SENDABLE, sumOf } from './model.ts';
import type {
  DeadLettersResponse,
  DestinationAnswer,
  DestinationStatus,
  RedriveAnswer,
  RestreamAnswer,
  RestreamBody,
  StatusResponse,
  StreamsResponse,
} from './types.ts';
import { confirmAction, errorBox, result } from './widgets.ts';

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** Dry run → confirmation with the count → the restream itself. */
export async function restreamWithConfirm(
  body: Omit<RestreamBody, 'requestId'>,
  what: string,
  out: Element,
  after?: () => void,
): Promise<void> {
  try {
    const dry = await api<RestreamAnswer>('/v1/restream', {
      method: 'POST',
      body: { ...body, requestId: newRequestId(new Date()), dryRun: true },
    });
    if (dry.dryRun !== true)
      throw new Error('the API did not answer the restream as a dry run; nothing asked');
    if (dry.matched === 0) return result(out, `Nothing to restream: ${what} matches no object.`, 'bad');
    const ok = await confirmAction({
      title: 'Restream?',
      body: [
        h('p', {}, `Restream ${what}.`),
        h(
          'p',
          { class: 'count', 'data-testid': 'confirm-count' },
          `This sends ${plural(dry.matched, 'delivery', 'deliveries')} again as new deliveries.`,
        ),
        h('p', { class: 'muted' }, 'Earlier records and their history stay as they are.'),
      ],
      confirmLabel: `Restream ${dry.matched}`,
    });
    if (!ok) return result(out, 'Restream cancelled.', 'bad');
    const done = await api<RestreamAnswer>('/v1/restream', {
      method: 'POST',
      body: { ...body, requestId: newRequestId(new Date()) },
    });
    result(out, `Restream ${done.requestId}: ${done.matched} matched, ${done.queued} queued so far.`, 'ok');
    after?.();
  } catch (err) {
    mount(out, errorBox(err));
  }
}

async function stopStart(d: DestinationStatus, action: 'stop' | 'start', out: Element, after: () => void) {
  // Fresh counts: the card may be a few seconds old.
  let current = d;
  try {
    const s = await api<StatusResponse>('/v1/status');
    current = s.destinations.find((x) => x.name === d.name) ?? d;
  } catch {
    // keep the counts we have
  }
  const waiting = sumOf(current.counts, SENDABLE);
  const held = current.counts.HELD ?? 0;
  const text =
    action === 'stop'
      ? `Stop ${d.name}: its ${plural(waiting, 'delivery', 'deliveries')} waiting to be sent, and every new file for it, will be held (no attempt spent) until it is started again.`
      : `Start ${d.name}: its ${plural(held, 'held delivery', 'held deliveries')} will be queued again and sent.`;
  const ok = await confirmAction({
    title: `${action === 'stop' ? 'Stop' : 'Start'} ${d.name}?`,
    body: h('p', { class: 'count', 'data-testid': 'confirm-count' }, text),
    confirmLabel: action === 'stop' ? `Stop ${d.name}` : `Start ${d.name}`,
    danger: action === 'stop',
  });
  if (!ok) return result(out, `${action} cancelled.`, 'bad');
  try {
    const a = await api<DestinationAnswer>(`/v1/destinations/${encodeURIComponent(d.name)}/${action}`, {
      method: 'POST',
    });
    result(out, `${a.name} is ${a.state}.`, 'ok');
    after();
  } catch (err) {
    mount(out, errorBox(err));
  }
}

async function redrive(queue: string, depth: number, out: Element, after: () => void) {
  const ok = await confirmAction({
    title: `Redrive ${queue}?`,
    body: h(
      'p',
      { class: 'count', 'data-testid': 'confirm-count' },
      `Moves ${plural(depth, 'message')} from the ${queue} dead-letter queue back to its queue, at 10 a second.`,
    ),
    confirmLabel: `Redrive ${depth}`,
    danger: true,
  });
  if (!ok) return result(out, 'Redrive cancelled.', 'bad');
  try {
    const a = await api<RedriveAnswer>('/v1/deadletters/redrive', { method: 'POST', body: { queue } });
    result(out, `Redrive ${a.redriveId}: ${a.moved} moved.`, 'ok');
    after();
  } catch (err) {
    mount(out, errorBox(err));
  }
}

/** `datetime-local` value (local time) → ISO UTC, or undefined when empty. */
function isoOf(input: HTMLInputElement): string | undefined {
  if (!input.value) return undefined;
  const d = new Date(input.value);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

export async function renderActions(refresh: () => void): Promise<HTMLElement> {
  const [status, streams, dlq] = await Promise.all([
    api<StatusResponse>('/v1/status'),
    api<StreamsResponse>('/v1/streams'),
    api<DeadLettersResponse>('/v1/deadletters').catch((err: unknown) => err),
  ]);

  // Restream a stream and a time range.
  const streamSel = h(
    'select',
    { id: 'rs-stream', name: 'stream' },
    streams.streams.map((s) =>
      h('option', { value: `${s.receiver}\u0000${s.id}` }, `${s.id} (${s.receiver})`),
    ),
  );
  const since = h('input', { id: 'rs-since', type: 'datetime-local', step: 1 });
  const until = h('input', { id: 'rs-until', type: 'datetime-local', step: 1 });
  const rsOut = h('div', { class: 'out' });
  const restreamForm = h(
    'form',
    {
      class: 'action',
      'aria-labelledby': 'h-restream',
      onsubmit: (e) => {
        e.preventDefault();
        const [receiver, id] = streamSel.value.split('\u0000') as [string, string];
        const range = { since: isoOf(since), until: isoOf(until) };
        const { requestId: _, ...body } = restreamBodyForStream(receiver, id, range, 'x');
        const when = `${range.since ? ` from ${range.since}` : ''}${range.until ? ` until ${range.until}` : ''}`;
        void restreamWithConfirm(body, `stream ${id}${when || ' (all time)'}`, rsOut);
      },
    },
    h('h3', { id: 'h-restream' }, 'Restream a stream'),
    h('label', { for: 'rs-stream' }, 'Stream'),
    streamSel,
    h('label', { for: 'rs-since' }, 'Arrived from (local time, optional)'),
    since,
    h('label', { for: 'rs-until' }, 'Arrived until (optional)'),
    until,
    h('button', { type: 'submit', class: 'primary' }, 'Restream…'),
    rsOut,
  );

  const destRows = status.destinations.map((d) => {
    const out = h('div', { class: 'out' });
    const stopped = d.state === 'stopped';
    return h(
      'tr',
      { 'data-destination': d.name },
      h('th', { scope: 'row' }, d.name),
      h('td', {}, d.vendor),
      h('td', { 'data-testid': 'state' }, d.state),
      h('td', {}, String(sumOf(d.counts, SENDABLE))),
      h(
        'td',
        {},
        h(
          'button',
          {
            type: 'button',
            class: stopped ? 'primary' : 'danger',
            'aria-label': `${stopped ? 'Start' : 'Stop'} ${d.name}`,
            onclick: () => void stopStart(d, stopped ? 'start' : 'stop', out, refresh),
          },
          stopped ? 'Start…' : 'Stop…',
        ),
        out,
      ),
    );
  });

  const dlqSection =
    dlq instanceof Error || !dlq || typeof dlq !== 'object'
      ? errorBox(dlq)
      : h(
          'table',
          { class: 'grid' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ['Queue', 'Destination', 'Depth', 'Oldest messages', ''].map((t) =>
                h('th', { scope: 'col' }, t),
              ),
            ),
          ),
          h(
            'tbody',
            {},
            (dlq as DeadLettersResponse).queues.map((q) => {
              const out = h('div', { class: 'out' });
              return h(
                'tr',
                { 'data-queue': q.queue },
                h('th', { scope: 'row' }, q.queue),
                h('td', {}, q.destination ?? q.vendor ?? '—'),
                h('td', { 'data-testid': 'depth' }, String(q.depth)),
                h(
                  'td',
                  {},
                  q.messages.length === 0
                    ? '—'
                    : h(
                        'ul',
                        { class: 'plain' },
                        q.messages
                          .slice(0, 3)
                          .map((m) =>
                            h('li', {}, h('code', {}, m.key ?? m.messageId), m.reason ? ` ${m.reason}` : ''),
                          ),
                      ),
                ),
                h(
                  'td',
                  {},
                  h(
                    'button',
                    {
                      type: 'button',
                      disabled: q.depth === 0,
                      'aria-label': `Redrive ${q.queue}`,
                      onclick: () => void redrive(q.queue, q.depth, out, refresh),
                    },
                    'Redrive…',
                  ),
                  out,
                ),
              );
            }),
          ),
        );

  return h(
    'div',
    { class: 'actions' },
    restreamForm,
    h(
      'section',
      { 'aria-labelledby': 'h-dest-actions', class: 'action' },
      h('h3', { id: 'h-dest-actions' }, 'Stop or start a destination'),
      h(
        'table',
        { class: 'grid' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['Destination', 'Vendor', 'State', 'Waiting', ''].map((t) => h('th', { scope: 'col' }, t)),
          ),
        ),
        h('tbody', {}, destRows),
      ),
    ),
    h(
      'section',
      { 'aria-labelledby': 'h-dlq', class: 'action' },
      h('h3', { id: 'h-dlq' }, 'Dead-letter queues'),
      dlqSection,
    ),
  );
}
