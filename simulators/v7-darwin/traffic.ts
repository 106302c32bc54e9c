import type { ReceivedRequest } from '../framework/index.ts';
import type { RegisterOutcome } from './store.ts';
import type { V7Item } from './types.ts';

/** What V7 received for one slot (one `upload_id`), whatever it answered, injected faults included. */
export interface SlotTraffic {
  signRequests: number;
  putRequests: number;
  /** Body bytes of those PUTs: read by the simulator, or the declared Content-Length of a PUT a fault answered. */
  bytesPut: number;
  confirmRequests: number;
}

export interface ItemStats {
  team: string;
  dataset: string;
  path: string;
  name: string;
  /** The item's id; null when no call registered it (every call blocked it). */
  id: string | null;
  status: V7Item['status'] | null;
  /** Register calls (any of the four register routes) that V7 processed and that named this item. */
  registerCalls: number;
  /** The reason of each call that blocked it, in order (e.g. `["ALREADY_EXISTS"]` after a re-register). */
  blockedReasons: string[];
  slots: Array<
    SlotTraffic & { slot_name: string; upload_id: string | null; status: string; uploads: number }
  >;
  /** Sums over the slots. */
  signRequests: number;
  putRequests: number;
  bytesPut: number;
  confirmRequests: number;
}

export interface RouteStats {
  requests: number;
  /** Count per answered status; `reset` (connection dropped) and `aborted` (client went away) too. */
  statuses: Record<string, number>;
}

export interface V7Stats {
  routes: Record<string, RouteStats>;
  items: ItemStats[];
  totals: {
    registerCalls: number;
    signRequests: number;
    putRequests: number;
    bytesPut: number;
    confirmRequests: number;
  };
}

const SLOT_ROUTES: Record<string, keyof SlotTraffic> = {
  signUpload: 'signRequests',
  v1SignUpload: 'signRequests',
  s3Put: 'putRequests',
  s3PostForm: 'putRequests',
  confirmUpload: 'confirmRequests',
  v1ConfirmUpload: 'confirmRequests',
};

const UPLOAD_ID_IN_PATH = /\/uploads\/([^/]+)\//;

/**
 * Counts what the simulator received, per route and per slot, from every answered request (the framework's
 * `answered` event), so that faults injected before the vendor logic ran are counted too. Handlers name the
 * slot they served with `note({uploadId, receivedBytes})`; a fault-answered request is attributed from its
 * path (sign, confirm) or its presigned token (PUT). Unlike the request log, nothing here is capped.
 */
export class Traffic {
  private readonly slots = new Map<string, SlotTraffic>();
  private readonly registers = new Map<string, { calls: number; blocked: string[] }>();
  private readonly routes = new Map<string, RouteStats>();

  /**
   * @param uploadIdOfToken maps a presigned PUT token to its upload_id.
   * @param legacyUploadId maps a v1 `dataset_item_id` to its upload_id.
   */
  constructor(
    private readonly uploadIdOfToken: (token: string) => string | undefined,
    private readonly legacyUploadId: (id: number) => string | undefined,
  ) {}

  clear(): void {
    this.slots.clear();
    this.registers.clear();
    this.routes.clear();
  }

  /** Listener for the framework's `answered` event. */
  answered(record: ReceivedRequest): void {
    const route = this.routes.get(record.route) ?? { requests: 0, statuses: {} };
    route.requests += 1;
    const status =
      record.status !== undefined
        ? String(record.status)
        : record.outcome === 'fault-reset'
          ? 'reset'
          : 'aborted';
    route.statuses[status] = (route.statuses[status] ?? 0) + 1;
    this.routes.set(record.route, route);

    const counter = SLOT_ROUTES[record.route];
    if (!counter) return;
    const uploadId = this.uploadIdOf(record);
    if (!uploadId) return;
    const slot = this.slot(uploadId);
    slot[counter] += 1;
    if (counter === 'putRequests') slot.bytesPut += bytesOf(record);
  }

  /** Counts one processed register call for each item it named. */
  registered(team: string, dataset: string, outcomes: RegisterOutcome[]): void {
    for (const o of outcomes) {
      const key = itemKey(team, dataset, o.norm.path, o.norm.name);
      const entry = this.registers.get(key) ?? { calls: 0, blocked: [] };
      entry.calls += 1;
      if (o.blocked) entry.blocked.push(o.blocked.reason);
      this.registers.set(key, entry);
    }
  }

  /** Stats for the items the store holds plus the items every register call blocked. */
  stats(items: V7Item[]): V7Stats {
    const out: ItemStats[] = [];
    const seen = new Set<string>();
    for (const item of items) {
      const key = itemKey(item.team, item.dataset, item.path, item.name);
      seen.add(key);
      const reg = this.registers.get(key) ?? { calls: 0, blocked: [] };
      const slots = item.slots.map((s) => ({
        slot_name: s.slot_name,
        upload_id: s.upload_id ?? null,
        status: s.status,
        uploads: s.upload_count,
        ...(s.upload_id ? this.slot(s.upload_id, false) : emptySlot()),
      }));
      out.push({
        team: item.team,
        dataset: item.dataset,
        path: item.path,
        name: item.name,
        id: item.id,
        status: item.status,
        registerCalls: reg.calls,
        blockedReasons: [...reg.blocked],
        slots,
        ...sumSlots(slots),
      });
    }
    for (const [key, reg] of this.registers) {
      if (seen.has(key)) continue;
      const [team = '', dataset = '', path = '', name = ''] = key.split('\0');
      out.push({
        team,
        dataset,
        path,
        name,
        id: null,
        status: null,
        registerCalls: reg.calls,
        blockedReasons: [...reg.blocked],
        slots: [],
        ...emptySlot(),
      });
    }
    const totals = {
      registerCalls: out.reduce((n, i) => n + i.registerCalls, 0),
      ...sumSlots(out),
    };
    return { routes: Object.fromEntries(this.routes), items: out, totals };
  }

  private slot(uploadId: string, create = true): SlotTraffic {
    const found = this.slots.get(uploadId);
    if (found) return create ? found : { ...found };
    const fresh = emptySlot();
    if (create) this.slots.set(uploadId, fresh);
    return fresh;
  }

  private uploadIdOf(record: ReceivedRequest): string | undefined {
    const noted = record.details.uploadId;
    if (typeof noted === 'string') return noted;
    if (record.route === 's3Put') return this.uploadIdOfToken(record.path.split('/').pop() ?? '');
    if (record.route === 'v1SignUpload' || record.route === 'v1ConfirmUpload') {
      const id = Number(record.path.split('/')[3]);
      return Number.isInteger(id) ? this.legacyUploadId(id) : undefined;
    }
    const m = UPLOAD_ID_IN_PATH.exec(record.path);
    return m?.[1] ? decodeURIComponent(m[1]) : undefined;
  }
}

function bytesOf(record: ReceivedRequest): number {
  const read = record.details.receivedBytes;
  if (typeof read === 'number') return read;
  const declared = Number(record.headers['content-length'] ?? 0);
  return Number.isFinite(declared) ? declared : 0;
}

function itemKey(team: string, dataset: string, path: string, name: string): string {
  return [team, dataset, path, name].join('\0');
}

function emptySlot(): SlotTraffic {
  return { signRequests: 0, putRequests: 0, bytesPut: 0, confirmRequests: 0 };
}

function sumSlots(list: SlotTraffic[]): SlotTraffic {
  const sum = emptySlot();
  for (const s of list) {
    sum.signRequests += s.signRequests;
    sum.putRequests += s.putRequests;
    sum.bytesPut += s.bytesPut;
    sum.confirmRequests += s.confirmRequests;
  }
  return sum;
}
