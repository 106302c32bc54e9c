import {
  DEFAULT_ITEM_PATH,
  EXTENSION_TYPES,
  FALLBACK_SLOT_TYPE,
  MAX_SLOTS_PER_ITEM,
  MSG,
  READONLY_ONLY_FIELDS,
  READONLY_REQUIRED_SLOT_FIELDS,
  READWRITE_ONLY_SLOT_FIELDS,
} from './assumptions.ts';

/** A slot as the simulator stores it, whatever the endpoint it came from. */
export interface NormSlot {
  slot_name: string;
  file_name: string;
  type: string;
  tags: string[];
  fps?: number | string;
  as_frames: boolean;
  extract_views: boolean;
  storage_key?: string;
  declared_size?: number;
  metadata: Record<string, unknown>;
}

export interface NormItem {
  name: string;
  path: string;
  slots: NormSlot[];
  layout?: unknown;
  /** v1 `{tag: text}` sub-annotations. */
  tag_texts?: Record<string, string>;
}

export interface RegisterRequest {
  dataset_slug: string;
  storage_slug?: string;
  items: NormItem[];
}

export type Validated<T> = { ok: true; value: T } | { ok: false; errors: Record<string, string[]> };

type Json = Record<string, unknown>;

class Errors {
  readonly map: Record<string, string[]> = {};
  add(path: string, msg: string): void {
    const list = this.map[path] ?? [];
    if (!list.includes(msg)) list.push(msg);
    this.map[path] = list;
  }
  get empty(): boolean {
    return Object.keys(this.map).length === 0;
  }
}

export function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** "/a//b/" → "/a/b"; "" → "/"; "cats" → "/cats". */
export function normalizePath(p: string): string {
  const parts = p.split('/').filter((s) => s.length > 0);
  return parts.length === 0 ? '/' : `/${parts.join('/')}`;
}

export function typeFromName(name: string): string {
  const dot = name.lastIndexOf('.');
  const ext = dot >= 0 ? name.slice(dot + 1).toLowerCase() : '';
  return EXTENSION_TYPES[ext] ?? FALLBACK_SLOT_TYPE;
}

function basename(key: string): string {
  const i = key.lastIndexOf('/');
  return i >= 0 ? key.slice(i + 1) : key;
}

function reqString(obj: Json, key: string, path: string, errors: Errors): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null || v === '') {
    errors.add(path, MSG.blank);
    return undefined;
  }
  if (typeof v !== 'string') {
    errors.add(path, MSG.invalid);
    return undefined;
  }
  return v;
}

function optString(obj: Json, key: string, path: string, errors: Errors): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') {
    errors.add(path, MSG.invalid);
    return undefined;
  }
  return v;
}

/** Booleans may arrive as strings: darwin-py sends `extract_views: "true"` for external storage [C]. */
function optBool(obj: Json, key: string, path: string, errors: Errors): boolean {
  const v = obj[key];
  if (v === undefined || v === null) return false;
  if (v === true || v === 'true') return true;
  if (v === false || v === 'false') return false;
  errors.add(path, MSG.invalid);
  return false;
}

function optFps(obj: Json, path: string, errors: Errors): number | string | undefined {
  const v = obj.fps;
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v;
  if (typeof v === 'string' && (v === 'native' || (v.trim() !== '' && Number.isFinite(Number(v))))) return v;
  errors.add(path, MSG.invalid);
  return undefined;
}

function optNonNegInt(obj: Json, key: string, path: string, errors: Errors): number | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  errors.add(path, MSG.invalid);
  return undefined;
}

function optTags(obj: Json, path: string, errors: Errors): string[] {
  const v = obj.tags;
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((t) => typeof t !== 'string' || t === '')) {
    errors.add(path, MSG.invalid);
    return [];
  }
  return v as string[];
}

function checkLayout(item: Json, path: string, errors: Errors): unknown {
  const layout = item.layout;
  if (layout === undefined || layout === null) return undefined;
  if (!isObject(layout) || typeof layout.version !== 'number' || !Array.isArray(layout.slots_grid)) {
    errors.add(path, MSG.invalid);
    return undefined;
  }
  return layout;
}

/** Top of every v2 register body: an object with `dataset_slug` and an `items` array. */
function top(
  body: unknown,
  errors: Errors,
  withStorage: boolean,
): { body: Json; dataset_slug?: string; storage_slug?: string; items: unknown[] } | undefined {
  if (!isObject(body)) {
    errors.add('body', 'must be a JSON object');
    return undefined;
  }
  const dataset_slug = reqString(body, 'dataset_slug', 'dataset_slug', errors);
  const storage_slug = withStorage ? reqString(body, 'storage_slug', 'storage_slug', errors) : undefined;
  const items = body.items;
  if (!Array.isArray(items)) {
    errors.add('items', items === undefined ? MSG.blank : MSG.invalid);
    return { body, dataset_slug, storage_slug, items: [] };
  }
  if (items.length === 0) errors.add('items', 'should have at least 1 item(s)');
  if (body.options !== undefined && body.options !== null && !isObject(body.options)) {
    errors.add('options', MSG.invalid);
  }
  return { body, dataset_slug, storage_slug, items };
}

function checkUniqueSlots(slots: NormSlot[], path: string, errors: Errors): void {
  const seen = new Set<string>();
  slots.forEach((s, i) => {
    if (seen.has(s.slot_name)) errors.add(`${path}[${i}].slot_name`, MSG.duplicate);
    seen.add(s.slot_name);
  });
}

function slotsArray(item: Json, path: string, errors: Errors): unknown[] | undefined {
  const slots = item.slots;
  if (slots === undefined || slots === null) {
    errors.add(path, MSG.blank);
    return undefined;
  }
  if (!Array.isArray(slots)) {
    errors.add(path, MSG.invalid);
    return undefined;
  }
  if (slots.length === 0) errors.add(path, 'should have at least 1 slot(s)');
  if (slots.length > MAX_SLOTS_PER_ITEM)
    errors.add(path, `should have at most ${MAX_SLOTS_PER_ITEM} slot(s)`);
  return slots;
}

/** Count of items in a body, when it has an `items` array (used for the > 500 check before validation). */
export function itemCount(body: unknown): number {
  return isObject(body) && Array.isArray(body.items) ? body.items.length : 0;
}

/** `POST /api/v2/teams/{team}/items/register_upload` (§2.1). */
export function validateRegisterUpload(body: unknown): Validated<RegisterRequest> {
  const errors = new Errors();
  const t = top(body, errors, false);
  const items: NormItem[] = [];
  (t?.items ?? []).forEach((raw, i) => {
    const p = `items[${i}]`;
    if (!isObject(raw)) {
      errors.add(p, MSG.invalid);
      return;
    }
    const name = reqString(raw, 'name', `${p}.name`, errors);
    const path = optString(raw, 'path', `${p}.path`, errors) ?? DEFAULT_ITEM_PATH;
    if (raw.storage_key !== undefined) errors.add(`${p}.storage_key`, MSG.unexpected);
    const layout = checkLayout(raw, `${p}.layout`, errors);
    const slots: NormSlot[] = [];
    (slotsArray(raw, `${p}.slots`, errors) ?? []).forEach((rs, j) => {
      const sp = `${p}.slots[${j}]`;
      if (!isObject(rs)) {
        errors.add(sp, MSG.invalid);
        return;
      }
      const file_name = reqString(rs, 'file_name', `${sp}.file_name`, errors);
      const slot_name = reqString(rs, 'slot_name', `${sp}.slot_name`, errors);
      if (rs.storage_key !== undefined) errors.add(`${sp}.storage_key`, MSG.unexpected);
      const slot: NormSlot = {
        slot_name: slot_name ?? '',
        file_name: file_name ?? '',
        type: optString(rs, 'type', `${sp}.type`, errors) ?? typeFromName(file_name ?? ''),
        tags: optTags(rs, `${sp}.tags`, errors),
        as_frames: optBool(rs, 'as_frames', `${sp}.as_frames`, errors),
        extract_views: optBool(rs, 'extract_views', `${sp}.extract_views`, errors),
        metadata: {},
      };
      const fps = optFps(rs, `${sp}.fps`, errors);
      if (fps !== undefined) slot.fps = fps;
      const size = optNonNegInt(rs, 'size_bytes', `${sp}.size_bytes`, errors);
      if (size !== undefined) slot.declared_size = size;
      slots.push(slot);
    });
    checkUniqueSlots(slots, `${p}.slots`, errors);
    const item: NormItem = { name: name ?? '', path: normalizePath(path), slots };
    if (layout !== undefined) item.layout = layout;
    items.push(item);
  });
  if (!t || !errors.empty) return { ok: false, errors: errors.map };
  return { ok: true, value: { dataset_slug: t.dataset_slug ?? '', items } };
}

function rejectFields(obj: Json, fields: readonly string[], path: string, msg: string, errors: Errors): void {
  for (const f of fields) if (obj[f] !== undefined) errors.add(`${path}.${f}`, msg);
}

/** `POST /api/v2/teams/{team}/items/register_existing` (read-write external storage, §2.1). */
export function validateRegisterExisting(body: unknown): Validated<RegisterRequest> {
  const errors = new Errors();
  const t = top(body, errors, true);
  const items: NormItem[] = [];
  (t?.items ?? []).forEach((raw, i) => {
    const p = `items[${i}]`;
    if (!isObject(raw)) {
      errors.add(p, MSG.invalid);
      return;
    }
    const name = reqString(raw, 'name', `${p}.name`, errors);
    const path = optString(raw, 'path', `${p}.path`, errors) ?? DEFAULT_ITEM_PATH;
    rejectFields(raw, READONLY_ONLY_FIELDS, p, MSG.useReadonly, errors);
    const itemTags = optTags(raw, `${p}.tags`, errors);
    const slots: NormSlot[] = [];
    let layout: unknown;
    if (raw.slots !== undefined) {
      // Multi-slot form: {name, path, slots:[{slot_name, type, storage_key, file_name}], layout?}
      if (raw.storage_key !== undefined) errors.add(`${p}.storage_key`, MSG.unexpected);
      layout = checkLayout(raw, `${p}.layout`, errors);
      (slotsArray(raw, `${p}.slots`, errors) ?? []).forEach((rs, j) => {
        const sp = `${p}.slots[${j}]`;
        if (!isObject(rs)) {
          errors.add(sp, MSG.invalid);
          return;
        }
        rejectFields(rs, READONLY_ONLY_FIELDS, sp, MSG.useReadonly, errors);
        const storage_key = reqString(rs, 'storage_key', `${sp}.storage_key`, errors);
        const slot_name = reqString(rs, 'slot_name', `${sp}.slot_name`, errors);
        const file_name =
          optString(rs, 'file_name', `${sp}.file_name`, errors) ?? basename(storage_key ?? '');
        const slot: NormSlot = {
          slot_name: slot_name ?? '',
          file_name,
          type: optString(rs, 'type', `${sp}.type`, errors) ?? typeFromName(file_name),
          tags: [...itemTags, ...optTags(rs, `${sp}.tags`, errors)],
          as_frames: optBool(rs, 'as_frames', `${sp}.as_frames`, errors),
          extract_views: optBool(rs, 'extract_views', `${sp}.extract_views`, errors),
          storage_key: storage_key ?? '',
          metadata: {},
        };
        const fps = optFps(rs, `${sp}.fps`, errors);
        if (fps !== undefined) slot.fps = fps;
        slots.push(slot);
      });
      checkUniqueSlots(slots, `${p}.slots`, errors);
    } else {
      // Single-slot form: {path, type, storage_key, name, fps?, extract_views?}
      const storage_key = reqString(raw, 'storage_key', `${p}.storage_key`, errors);
      const slot: NormSlot = {
        slot_name: '0',
        file_name: name ?? '',
        type: optString(raw, 'type', `${p}.type`, errors) ?? typeFromName(storage_key ?? name ?? ''),
        tags: itemTags,
        as_frames: optBool(raw, 'as_frames', `${p}.as_frames`, errors),
        extract_views: optBool(raw, 'extract_views', `${p}.extract_views`, errors),
        storage_key: storage_key ?? '',
        metadata: {},
      };
      const fps = optFps(raw, `${p}.fps`, errors);
      if (fps !== undefined) slot.fps = fps;
      slots.push(slot);
    }
    const item: NormItem = { name: name ?? '', path: normalizePath(path), slots };
    if (layout !== undefined) item.layout = layout;
    items.push(item);
  });
  if (!t || !errors.empty) return { ok: false, errors: errors.map };
  return {
    ok: true,
    value: { dataset_slug: t.dataset_slug ?? '', storage_slug: t.storage_slug ?? '', items },
  };
}

const READONLY_KNOWN_SLOT_FIELDS = new Set<string>([
  ...READONLY_REQUIRED_SLOT_FIELDS,
  ...READONLY_ONLY_FIELDS,
  'type',
  'size_bytes',
  'tags',
  'extract_views',
]);

/** `POST /api/v2/teams/{team}/items/register_existing_readonly` (§2.1): slots with pre-computed metadata. */
export function validateRegisterReadonly(body: unknown): Validated<RegisterRequest> {
  const errors = new Errors();
  const t = top(body, errors, true);
  const items: NormItem[] = [];
  (t?.items ?? []).forEach((raw, i) => {
    const p = `items[${i}]`;
    if (!isObject(raw)) {
      errors.add(p, MSG.invalid);
      return;
    }
    const name = reqString(raw, 'name', `${p}.name`, errors);
    const path = optString(raw, 'path', `${p}.path`, errors) ?? DEFAULT_ITEM_PATH;
    // The read-write single-slot shape puts storage_key/type on the item: a mix-up.
    for (const f of ['storage_key', 'type', 'fps']) {
      if (raw[f] !== undefined) errors.add(`${p}.${f}`, MSG.useReadwrite);
    }
    const layout = checkLayout(raw, `${p}.layout`, errors);
    const itemTags = optTags(raw, `${p}.tags`, errors);
    const slots: NormSlot[] = [];
    (slotsArray(raw, `${p}.slots`, errors) ?? []).forEach((rs, j) => {
      const sp = `${p}.slots[${j}]`;
      if (!isObject(rs)) {
        errors.add(sp, MSG.invalid);
        return;
      }
      for (const f of READONLY_REQUIRED_SLOT_FIELDS) {
        if (f === 'width' || f === 'height') {
          const v = rs[f];
          if (v === undefined || v === null) errors.add(`${sp}.${f}`, MSG.blank);
          else if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0)
            errors.add(`${sp}.${f}`, MSG.invalid);
        } else {
          reqString(rs, f, `${sp}.${f}`, errors);
        }
      }
      rejectFields(rs, READWRITE_ONLY_SLOT_FIELDS, sp, MSG.useReadwrite, errors);
      const metadata: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(rs)) {
        if (
          !READONLY_KNOWN_SLOT_FIELDS.has(k) &&
          !(READWRITE_ONLY_SLOT_FIELDS as readonly string[]).includes(k)
        ) {
          errors.add(`${sp}.${k}`, MSG.unexpected);
        } else if (!['slot_name', 'file_name', 'storage_key', 'type', 'tags', 'extract_views'].includes(k)) {
          metadata[k] = v;
        }
      }
      const file_name = typeof rs.file_name === 'string' ? rs.file_name : '';
      const slot: NormSlot = {
        slot_name: typeof rs.slot_name === 'string' ? rs.slot_name : '',
        file_name,
        type: optString(rs, 'type', `${sp}.type`, errors) ?? typeFromName(file_name),
        tags: [...itemTags, ...optTags(rs, `${sp}.tags`, errors)],
        as_frames: false,
        extract_views: optBool(rs, 'extract_views', `${sp}.extract_views`, errors),
        storage_key: typeof rs.storage_key === 'string' ? rs.storage_key : '',
        metadata,
      };
      const size = optNonNegInt(rs, 'size_bytes', `${sp}.size_bytes`, errors);
      if (size !== undefined) slot.declared_size = size;
      slots.push(slot);
    });
    checkUniqueSlots(slots, `${p}.slots`, errors);
    const item: NormItem = { name: name ?? '', path: normalizePath(path), slots };
    if (layout !== undefined) item.layout = layout;
    items.push(item);
  });
  if (!t || !errors.empty) return { ok: false, errors: errors.map };
  return {
    ok: true,
    value: { dataset_slug: t.dataset_slug ?? '', storage_slug: t.storage_slug ?? '', items },
  };
}

export interface V1RegisterRequest {
  storage_name?: string;
  items: NormItem[];
}

/**
 * v1 `PUT /api/teams/{team}/datasets/{dataset}/data` (§2.2): `{items:[{filename, path?, tags?}]}`; tags are
 * strings or `{tag: text}` objects (vendor doc example 2). With `storage_name`, items are external and carry
 * `key` (+ `thumbnail_key`, `width`, `height`).
 */
export function validateV1Register(body: unknown): Validated<V1RegisterRequest> {
  const errors = new Errors();
  if (!isObject(body)) {
    errors.add('body', 'must be a JSON object');
    return { ok: false, errors: errors.map };
  }
  const storage_name = optString(body, 'storage_name', 'storage_name', errors);
  const rawItems = body.items;
  if (!Array.isArray(rawItems)) {
    errors.add('items', rawItems === undefined ? MSG.blank : MSG.invalid);
    return { ok: false, errors: errors.map };
  }
  if (rawItems.length === 0) errors.add('items', 'should have at least 1 item(s)');
  const items: NormItem[] = [];
  rawItems.forEach((raw, i) => {
    const p = `items[${i}]`;
    if (!isObject(raw)) {
      errors.add(p, MSG.invalid);
      return;
    }
    const filename = reqString(raw, 'filename', `${p}.filename`, errors);
    const path = optString(raw, 'path', `${p}.path`, errors) ?? DEFAULT_ITEM_PATH;
    const tags: string[] = [];
    const tag_texts: Record<string, string> = {};
    if (raw.tags !== undefined && raw.tags !== null) {
      if (!Array.isArray(raw.tags)) errors.add(`${p}.tags`, MSG.invalid);
      else
        for (const tag of raw.tags) {
          if (typeof tag === 'string' && tag !== '') tags.push(tag);
          else if (isObject(tag) && Object.keys(tag).length === 1) {
            const [k, v] = Object.entries(tag)[0] as [string, unknown];
            if (typeof v !== 'string') errors.add(`${p}.tags`, MSG.invalid);
            tags.push(k);
            tag_texts[k] = String(v);
          } else errors.add(`${p}.tags`, MSG.invalid);
        }
    }
    const metadata: Record<string, unknown> = {};
    let storage_key: string | undefined;
    if (storage_name !== undefined) {
      storage_key = reqString(raw, 'key', `${p}.key`, errors);
      for (const f of ['thumbnail_key', 'width', 'height']) if (raw[f] !== undefined) metadata[f] = raw[f];
    } else if (raw.key !== undefined) {
      errors.add(`${p}.key`, 'requires storage_name');
    }
    const slot: NormSlot = {
      slot_name: '0',
      file_name: filename ?? '',
      type: typeFromName(filename ?? ''),
      tags,
      as_frames: optBool(raw, 'as_frames', `${p}.as_frames`, errors),
      extract_views: false,
      metadata,
    };
    const fps = optFps(raw, `${p}.fps`, errors);
    if (fps !== undefined) slot.fps = fps;
    if (storage_key !== undefined) slot.storage_key = storage_key;
    const item: NormItem = { name: filename ?? '', path: normalizePath(path), slots: [slot] };
    if (Object.keys(tag_texts).length > 0) item.tag_texts = tag_texts;
    items.push(item);
  });
  if (!errors.empty) return { ok: false, errors: errors.map };
  const value: V1RegisterRequest = { items };
  if (storage_name !== undefined) value.storage_name = storage_name;
  return { ok: true, value };
}
