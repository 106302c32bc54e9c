/**
 * Registration of many deliveries in few calls: `register_upload` (standard upload) or `register_existing`
 * (External Storage), at most 500 items each (§2.1), and the answer mapped back to each delivery: a registered
 * item (its id and upload_id), a blocked item (its reason), or the call's failure.
 */
import { recorded } from '#commons/errors.ts';
import { isSuccess } from '../common.ts';
import type { DeliveryOutcome, JsonObject } from '../types.ts';
import { type Answered, badResponse, errorsOf, failure, fieldErrors } from './answers.ts';
import { V7_ASSUMPTIONS } from './assumptions.ts';
import type { V7Client } from './client.ts';
import { existingItem, type ItemSpec, uploadItem } from './settings.ts';

/** One delivery to register. `mayExist`: an earlier register of it went out and got no usable answer. */
export interface ToRegister {
  item: ItemSpec;
  mayExist: boolean;
}

export type Registered =
  | { kind: 'registered'; itemId: string; uploadId?: string }
  | { kind: 'outcome'; outcome: DeliveryOutcome };

type Mode = 'upload' | 'external';

interface SlotAnswer {
  upload_id?: unknown;
  reason?: unknown;
}
interface ItemAnswer {
  id?: unknown;
  name?: unknown;
  path?: unknown;
  slots?: SlotAnswer[];
}

function itemsOf(value: unknown): ItemAnswer[] | undefined {
  return Array.isArray(value)
    ? value.filter((v): v is ItemAnswer => v !== null && typeof v === 'object')
    : undefined;
}

/** Registers every entry (in chunks of ≤ 500); answers one result per entry, in order. */
export async function registerAll(
  client: V7Client,
  mode: Mode,
  entries: ToRegister[],
): Promise<Registered[]> {
  const out: Registered[] = new Array(entries.length);
  const max = V7_ASSUMPTIONS.maxItemsPerRegister;
  for (let i = 0; i < entries.length; i += max) {
    const idx = entries.slice(i, i + max).map((_, k) => i + k);
    await registerChunk(client, mode, entries, idx, out, 0);
  }
  return out;
}

async function registerChunk(
  client: V7Client,
  mode: Mode,
  entries: ToRegister[],
  idx: number[],
  out: Registered[],
  rounds422: number,
): Promise<void> {
  if (idx.length === 0) return;
  const s = client.settings;
  const items = idx.map((i) =>
    mode === 'upload' ? uploadItem(entry(entries, i).item, s) : existingItem(entry(entries, i).item, s),
  );
  const body: JsonObject =
    mode === 'upload'
      ? { items, dataset_slug: s.dataset, options: { handle_as_slices: false } }
      : { items, dataset_slug: s.dataset, storage_slug: s.external?.storage ?? '' };
  const path = mode === 'upload' ? '/items/register_upload' : '/items/register_existing';
  const answer = await client.api('POST', path, body);
  const set = (i: number, r: Registered) => {
    out[i] = r;
  };
  const all = (outcome: DeliveryOutcome) => {
    for (const i of idx) set(i, { kind: 'outcome', outcome });
  };

  if (answer.kind === 'answer' && isSuccess(answer.status)) {
    mapAnswer(answer, mode, entries, idx, set);
    return;
  }
  if (answer.kind === 'answer' && answer.status === 413 && idx.length > 1 && V7_ASSUMPTIONS.splitOn413) {
    const mid = Math.ceil(idx.length / 2);
    await registerChunk(client, mode, entries, idx.slice(0, mid), out, rounds422);
    await registerChunk(client, mode, entries, idx.slice(mid), out, rounds422);
    return;
  }
  if (answer.kind === 'answer' && answer.status === 422) {
    const errors = errorsOf(answer.text) ?? {};
    const byItem = new Map<number, string[]>();
    for (const key of Object.keys(errors)) {
      const n = V7_ASSUMPTIONS.itemErrorKey.exec(key)?.[1];
      if (n !== undefined) byItem.set(Number(n), [...(byItem.get(Number(n)) ?? []), key]);
    }
    if (byItem.size === 0) {
      const keys = Object.keys(errors).filter((k) => k !== 'code' && k !== 'message');
      if (keys.some((k) => V7_ASSUMPTIONS.destinationErrorKey.test(k))) {
        // The destination's own settings (dataset_slug, a read-only storage_slug…): every item would fail.
        const refused = failure(answer, 'register', client.ctx.now());
        all(
          refused.kind === 'rejected'
            ? { kind: 'hold', error: { ...refused.error, code: 'DESTINATION_REFUSED' } }
            : refused,
        );
        return;
      }
      if (idx.length > 1) {
        // Not said which item: halves, as after a 413, until the item it is about is alone.
        const mid = Math.ceil(idx.length / 2);
        await registerChunk(client, mode, entries, idx.slice(0, mid), out, rounds422);
        await registerChunk(client, mode, entries, idx.slice(mid), out, rounds422);
        return;
      }
      const [i] = idx as [number];
      const taken = V7_ASSUMPTIONS.nameTaken;
      const name = errors[taken.key];
      set(i, {
        kind: 'outcome',
        outcome:
          Array.isArray(name) && name.some((m) => typeof m === 'string' && taken.message.test(m))
            ? blockedOutcome({ slots: [{ reason: taken.reason }] }, mode, entry(entries, i), 422)
            : failure(answer, 'register', client.ctx.now()),
      });
      return;
    }
    const rest: number[] = [];
    idx.forEach((i, k) => {
      const keys = byItem.get(k);
      if (!keys) {
        rest.push(i);
        return;
      }
      const own = fieldErrors(errors, (key) => keys.includes(key)).replace(/items\[\d+\]\./g, '');
      set(i, {
        kind: 'outcome',
        outcome: {
          kind: 'rejected',
          error: recorded('INVALID_REQUEST', `V7 refused the item: ${own}`, {
            httpStatus: 422,
            vendorCode: typeof errors.code === 'string' ? errors.code : 'INVALID_REQUEST',
          }),
        },
      });
    });
    if (rounds422 + 1 >= V7_ASSUMPTIONS.max422Rounds) {
      for (const i of rest)
        set(i, {
          kind: 'outcome',
          outcome: {
            kind: 'retry',
            error: recorded(
              'INVALID_REQUEST_ELSEWHERE',
              'other items of the register call were refused (422)',
            ),
          },
        });
      return;
    }
    await registerChunk(client, mode, entries, rest, out, rounds422 + 1);
    return;
  }
  all(failure(answer, 'register', client.ctx.now()));
}

function entry(entries: ToRegister[], i: number): ToRegister {
  return entries[i] as ToRegister;
}

const keyOf = (path: unknown, name: unknown) => `${String(path)}\u0000${String(name)}`;

/** Maps a 200's `items` and `blocked_items` back to the entries, by folder and name (then by name alone). */
function mapAnswer(
  answer: Answered,
  mode: Mode,
  entries: ToRegister[],
  idx: number[],
  set: (i: number, r: Registered) => void,
): void {
  const body = (() => {
    try {
      return JSON.parse(answer.text) as Record<string, unknown>;
    } catch {
      return undefined;
    }
  })();
  const items = itemsOf(body?.items);
  const blocked = itemsOf(body?.blocked_items) ?? [];
  if (!items) {
    for (const i of idx) set(i, { kind: 'outcome', outcome: badResponse('register', answer) });
    return;
  }
  const waiting = new Map<string, number[]>();
  for (const i of idx) {
    const { item } = entry(entries, i);
    const k = keyOf(item.path, item.name);
    waiting.set(k, [...(waiting.get(k) ?? []), i]);
  }
  const take = (a: ItemAnswer): number | undefined => {
    const exact = waiting.get(keyOf(a.path, a.name));
    if (exact?.length) return exact.shift();
    for (const list of waiting.values()) {
      const j = list.findIndex((i) => entry(entries, i).item.name === a.name);
      if (j >= 0) return list.splice(j, 1)[0];
    }
    return undefined;
  };
  for (const a of items) {
    const i = take(a);
    if (i === undefined) continue;
    const uploadId = a.slots?.[0]?.upload_id;
    if (typeof a.id !== 'string' || (mode === 'upload' && typeof uploadId !== 'string')) {
      set(i, { kind: 'outcome', outcome: badResponse('register', answer) });
      continue;
    }
    set(
      i,
      typeof uploadId === 'string' && mode === 'upload'
        ? { kind: 'registered', itemId: a.id, uploadId }
        : { kind: 'registered', itemId: a.id },
    );
  }
  for (const a of blocked) {
    const i = take(a);
    if (i === undefined) continue;
    set(i, { kind: 'outcome', outcome: blockedOutcome(a, mode, entry(entries, i)) });
  }
  for (const list of waiting.values())
    for (const i of list)
      set(i, {
        kind: 'outcome',
        outcome: {
          kind: 'retry',
          error: recorded(
            'BAD_VENDOR_RESPONSE',
            `V7 register answered ${answer.status} without this item in items or blocked_items`,
          ),
        },
      });
}

/**
 * What a blocked item's reason means for its delivery (see V7_ASSUMPTIONS.*Reasons); also a single item's 422
 * NameTaken (`httpStatus` 422), which means the same as ALREADY_EXISTS.
 */
export function blockedOutcome(a: ItemAnswer, mode: Mode, e: ToRegister, httpStatus = 200): DeliveryOutcome {
  const reason = typeof a.slots?.[0]?.reason === 'string' ? (a.slots[0].reason as string) : 'BLOCKED';
  const where = `"${e.item.path === '/' ? '' : e.item.path}/${e.item.name}"`;
  const vendorRef = typeof a.id === 'string' ? a.id : undefined;
  const error = (code: string, message: string) =>
    recorded(code, message, { httpStatus, vendorCode: reason });
  if (V7_ASSUMPTIONS.presentReasons.includes(reason) || reason === V7_ASSUMPTIONS.nameTaken.reason) {
    if (mode === 'upload' && e.mayExist) {
      return {
        kind: 'rejected',
        error: error(
          V7_ASSUMPTIONS.registerAnswerLostCode,
          `V7 already has item ${where}${vendorRef ? ` (id ${vendorRef})` : ''}, most likely from an earlier register of this delivery whose answer was lost; V7 gives no way to find its upload_id, so the file cannot be uploaded into it. Check the item in V7: if it has no file, delete it and restream this object.`,
        ),
      };
    }
    return {
      kind: 'present',
      error: error(reason, `V7 already has an item ${where} in this dataset (${reason})`),
      ...(vendorRef ? { vendorRef } : {}),
    };
  }
  const message = `V7 blocked item ${where}: ${reason}${reason.startsWith('UNKNOWN_TAG') && e.item.tags.length ? ` (tags: ${e.item.tags.join(', ')})` : ''}`;
  if (V7_ASSUMPTIONS.holdReasons.includes(reason)) return { kind: 'hold', error: error(reason, message) };
  if (V7_ASSUMPTIONS.retryReasons.includes(reason)) return { kind: 'retry', error: error(reason, message) };
  return { kind: 'rejected', error: error(reason, message) };
}
