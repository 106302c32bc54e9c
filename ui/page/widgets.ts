/** Small pieces every view uses: status badges, times, the confirmation dialog, the live announcer. */
import { type Child, h, mount } from './dom.ts';
import { clock, toneOf } from './model.ts';

export function badge(status: string): HTMLElement {
  return h('span', { class: `badge tone-${toneOf(status)}`, 'data-status': status }, status);
}

export function time(iso: string | undefined): Child {
  return iso ? h('time', { datetime: iso, title: iso }, clock(iso)) : '—';
}

export function errorBox(err: unknown): HTMLElement {
  const e = err as { code?: string; message?: string };
  return h('p', { class: 'error', role: 'alert' }, e.code ? `${e.code}: ` : '', e.message ?? String(err));
}

/** Tells screen readers (and the tests) what an action did. */
export function announce(text: string): void {
  const live = document.getElementById('announce');
  if (live) live.textContent = text;
}

/**
 * Asks before an action: a modal <dialog> (Esc cancels; focus stays inside) whose text says what will happen and
 * how many objects it touches. Resolves true on Confirm.
 */
export function confirmAction(opts: {
  title: string;
  body: Child;
  confirmLabel: string;
  danger?: boolean;
}): Promise<boolean> {
  const dialog = document.getElementById('confirm') as HTMLDialogElement;
  return new Promise((resolve) => {
    const cancel = h('button', { type: 'button', value: 'cancel' }, 'Cancel');
    const ok = h(
      'button',
      { type: 'button', class: opts.danger ? 'danger' : 'primary', value: 'confirm' },
      opts.confirmLabel,
    );
    mount(
      dialog,
      h('h2', { id: 'confirm-title' }, opts.title),
      h('div', { class: 'confirm-body', id: 'confirm-body' }, opts.body),
      h('div', { class: 'confirm-buttons' }, cancel, ok),
    );
    dialog.setAttribute('aria-labelledby', 'confirm-title');
    dialog.setAttribute('aria-describedby', 'confirm-body');
    const done = (answer: boolean) => {
      dialog.removeEventListener('close', onClose);
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    const onClose = () => done(false);
    dialog.addEventListener('close', onClose);
    cancel.addEventListener('click', () => done(false));
    ok.addEventListener('click', () => done(true));
    dialog.showModal();
    cancel.focus();
  });
}

/**
 * A short message after an action: beside the control that started it, and in the page's "last action" line,
 * which stays when the view re-renders (and is a status region, so screen readers hear it).
 */
export function result(target: Element, text: string, tone: 'ok' | 'bad'): void {
  mount(target, h('p', { class: `result tone-${tone}` }, text));
  const last = document.getElementById('last-action');
  if (last) {
    last.className = `tone-${tone}`;
    last.textContent = text;
  }
}
