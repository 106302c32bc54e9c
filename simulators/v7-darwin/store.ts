import {
  ALREADY_EXISTS_REASON,
  DEFAULT_STORAGE_PROVIDER,
  ITEM_COUNT_LIMIT_REASON,
  V1_FIRST_DATASET_ITEM_ID,
  V1_MISSING_TEXT_REASON,
} from './assumptions.ts';
import type { ItemSource, V7Item, V7Slot, V7StorageConfig, V7TeamConfig } from './types.ts';
import type { NormItem } from './validate.ts';

export interface RegisterOptions {
  source: ItemSource;
  storage_slug?: string;
  /** Reason used when a tag is unknown (v2 UNKNOWN_TAGS, v1 UNKNOWN_TAG). */
  unknownTagReason: string;
  /** v1: `{tag: text}` on a tag that does not allow text → MISSING_TEXT_FOR_TAG. */
  checkTagText: boolean;
  newId: () => string;
}

export interface RegisterOutcome {
  norm: NormItem;
  /** The item created by this call. */
  created?: V7Item;
  /** Set when the item was blocked. */
  blocked?: { reason: string; id: string; legacy_id?: number };
}

/** The vendor state: teams → datasets → items → slots, plus indexes by upload id and v1 integer id. */
export class DarwinStore {
  private readonly items = new Map<string, V7Item>();
  /** `${team}\0${dataset}` → `${path}\0${name}` → item id */
  private readonly index = new Map<string, Map<string, string>>();
  private readonly uploads = new Map<string, { itemId: string; slotName: string }>();
  private readonly legacy = new Map<number, string>();
  private readonly remaining = new Map<string, number>();
  private seq = 0;
  private nextLegacyId = V1_FIRST_DATASET_ITEM_ID;

  constructor(private readonly teams: Record<string, V7TeamConfig>) {
    this.reset();
  }

  reset(): void {
    this.items.clear();
    this.index.clear();
    this.uploads.clear();
    this.legacy.clear();
    this.remaining.clear();
    this.seq = 0;
    this.nextLegacyId = V1_FIRST_DATASET_ITEM_ID;
    for (const [slug, team] of Object.entries(this.teams)) {
      if (team.remainingStorageBytes !== undefined) this.remaining.set(slug, team.remainingStorageBytes);
    }
  }

  team(slug: string): V7TeamConfig | undefined {
    return Object.hasOwn(this.teams, slug) ? this.teams[slug] : undefined;
  }

  hasDataset(team: string, dataset: string): boolean {
    return this.team(team)?.datasets.includes(dataset) ?? false;
  }

  /** The team's External Storage connections with every field filled in (see README "Lookups"). */
  storages(team: string): Required<V7StorageConfig>[] {
    const list = (this.team(team)?.storages ?? []).map((s) => (typeof s === 'string' ? { name: s } : s));
    const anyDefault = list.some((s) => s.default === true);
    return list.map((s, i) => ({
      name: s.name,
      readonly: s.readonly ?? false,
      provider: s.provider ?? DEFAULT_STORAGE_PROVIDER,
      bucket: s.bucket ?? s.name,
      prefix: s.prefix ?? '',
      region: s.region ?? null,
      default: anyDefault ? s.default === true : i === 0,
    }));
  }

  storage(team: string, name: string): Required<V7StorageConfig> | undefined {
    return this.storages(team).find((s) => s.name === name);
  }

  hasStorage(team: string, storage: string): boolean {
    return this.storage(team, storage) !== undefined;
  }

  /** A dataset's integer id: its position among every team's datasets, counted from 1 [A]. */
  datasetId(team: string, dataset: string): number | undefined {
    let n = 0;
    for (const [slug, cfg] of Object.entries(this.teams)) {
      for (const ds of cfg.datasets) {
        n++;
        if (slug === team && ds === dataset) return n;
      }
    }
    return undefined;
  }

  /** Storage left for the team; undefined when unlimited. */
  remainingBytes(team: string): number | undefined {
    return this.remaining.get(team);
  }

  setRemaining(team: string, bytes: number | undefined): void {
    if (bytes === undefined) this.remaining.delete(team);
    else this.remaining.set(team, bytes);
  }

  consumeStorage(team: string, bytes: number): void {
    const left = this.remaining.get(team);
    if (left !== undefined) this.remaining.set(team, left - bytes);
  }

  private key(path: string, name: string): string {
    return `${path}\0${name}`;
  }

  private datasetIndex(team: string, dataset: string): Map<string, string> {
    const k = `${team}\0${dataset}`;
    let m = this.index.get(k);
    if (!m) {
      m = new Map();
      this.index.set(k, m);
    }
    return m;
  }

  find(team: string, dataset: string, path: string, name: string): V7Item | undefined {
    const id = this.datasetIndex(team, dataset).get(this.key(path, name));
    return id ? this.items.get(id) : undefined;
  }

  teamItemCount(team: string): number {
    let n = 0;
    for (const item of this.items.values()) if (item.team === team) n++;
    return n;
  }

  get(id: string): V7Item | undefined {
    return this.items.get(id);
  }

  byLegacyId(id: number): V7Item | undefined {
    const itemId = this.legacy.get(id);
    return itemId ? this.items.get(itemId) : undefined;
  }

  byUploadId(uploadId: string): { item: V7Item; slot: V7Slot } | undefined {
    const ref = this.uploads.get(uploadId);
    const item = ref ? this.items.get(ref.itemId) : undefined;
    const slot = item?.slots.find((s) => s.slot_name === ref?.slotName);
    return item && slot ? { item, slot } : undefined;
  }

  list(team: string, dataset: string): V7Item[] {
    return [...this.items.values()]
      .filter((i) => i.team === team && i.dataset === dataset)
      .sort((a, b) => a.created_seq - b.created_seq);
  }

  all(): V7Item[] {
    return [...this.items.values()].sort((a, b) => a.created_seq - b.created_seq);
  }

  allocateLegacyId(): number {
    return this.nextLegacyId++;
  }

  /**
   * Registers items, deciding per item whether it is blocked. Checks, in order: ALREADY_EXISTS (an item of the
   * same name at the same path in the dataset, including earlier in the same request), unknown tags,
   * v1 tag text, then the team's item count limit.
   */
  register(team: string, dataset: string, norms: NormItem[], opts: RegisterOptions): RegisterOutcome[] {
    const cfg = this.team(team);
    const known = new Set(cfg?.tags ?? []);
    const withText = new Set(cfg?.tagsWithText ?? []);
    const idx = this.datasetIndex(team, dataset);
    let count = this.teamItemCount(team);
    const out: RegisterOutcome[] = [];
    const isV1 = opts.source === 'v1_upload' || opts.source === 'v1_external';
    const uploaded = opts.source === 'upload' || opts.source === 'v1_upload';

    for (const norm of norms) {
      const existingId = idx.get(this.key(norm.path, norm.name));
      const existing = existingId ? this.items.get(existingId) : undefined;
      let reason: string | undefined;
      if (existing) reason = ALREADY_EXISTS_REASON;
      else if (norm.slots.some((s) => s.tags.some((t) => !known.has(t)))) reason = opts.unknownTagReason;
      else if (opts.checkTagText && Object.keys(norm.tag_texts ?? {}).some((t) => !withText.has(t)))
        reason = V1_MISSING_TEXT_REASON;
      else if (cfg?.maxItems !== undefined && count >= cfg.maxItems) reason = ITEM_COUNT_LIMIT_REASON;

      if (reason) {
        const blocked: RegisterOutcome['blocked'] = { reason, id: existing?.id ?? opts.newId() };
        if (isV1) blocked.legacy_id = existing?.legacy_id ?? this.allocateLegacyId();
        out.push({ norm, blocked });
        continue;
      }

      const item: V7Item = {
        id: opts.newId(),
        team,
        dataset,
        name: norm.name,
        path: norm.path,
        source: opts.source,
        status: 'uploading',
        slots: norm.slots.map((s) => {
          const slot: V7Slot = {
            slot_name: s.slot_name,
            file_name: s.file_name,
            type: s.type,
            as_frames: s.as_frames,
            extract_views: s.extract_views,
            tags: [...s.tags],
            status: uploaded ? 'awaiting_upload' : opts.source === 'external' ? 'processing' : 'complete',
            upload_count: 0,
            metadata: { ...s.metadata },
          };
          if (uploaded) slot.upload_id = opts.newId();
          if (s.storage_key !== undefined) slot.storage_key = s.storage_key;
          if (s.fps !== undefined) slot.fps = s.fps;
          if (s.declared_size !== undefined) slot.declared_size = s.declared_size;
          return slot;
        }),
        created_seq: ++this.seq,
      };
      if (opts.storage_slug !== undefined) item.storage_slug = opts.storage_slug;
      if (norm.layout !== undefined) item.layout = norm.layout;
      if (norm.tag_texts) item.tag_texts = { ...norm.tag_texts };
      if (isV1) {
        item.legacy_id = this.allocateLegacyId();
        this.legacy.set(item.legacy_id, item.id);
      }
      refreshStatus(item);
      this.items.set(item.id, item);
      idx.set(this.key(item.path, item.name), item.id);
      for (const slot of item.slots) {
        if (slot.upload_id) this.uploads.set(slot.upload_id, { itemId: item.id, slotName: slot.slot_name });
      }
      count++;
      out.push({ norm, created: item });
    }
    return out;
  }
}

/** `uploading` while a slot waits for bytes or confirmation, `processing` while one is processing, else `complete`. */
export function refreshStatus(item: V7Item): void {
  if (item.slots.some((s) => s.status === 'awaiting_upload' || s.status === 'uploaded'))
    item.status = 'uploading';
  else if (item.slots.some((s) => s.status === 'processing')) item.status = 'processing';
  else item.status = 'complete';
}
