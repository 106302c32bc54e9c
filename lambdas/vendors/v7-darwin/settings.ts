/**
 * A V7 destination's settings (`options`, schema-validated with the config) and what each delivery sends (its
 * `fields`, rendered from the config's templates by the router): item name, folder path, tags, and the
 * External Storage key.
 */
import { basenameOf, extensionOf } from '#commons/media.ts';
import type { DeliveryJob, JsonObject, JsonSchema, JsonValue } from '../types.ts';
import { V7_ASSUMPTIONS } from './assumptions.ts';

const slug = { type: 'string', minLength: 1, pattern: '^[^/\\s]+$' };

export const optionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['team_slug', 'dataset_slug'],
  properties: {
    team_slug: { ...slug, description: 'The V7 team slug (the {team_slug} of the API paths).' },
    dataset_slug: { ...slug, description: 'The dataset the items go to.' },
    external_storage: {
      type: 'object',
      additionalProperties: false,
      required: ['storage_slug'],
      description:
        'External Storage mode: V7 reads the objects from this bucket (register_existing); no bytes are sent.',
      properties: {
        storage_slug: { ...slug, description: 'The storage connection V7 knows the bucket by.' },
        bucket: {
          type: 'string',
          minLength: 3,
          description:
            'Only objects of this bucket (the one the storage connection reads); others are REJECTED.',
        },
      },
    },
    video: {
      type: 'object',
      additionalProperties: false,
      description: 'Applied to video files only (by extension).',
      properties: {
        fps: {
          description: 'Frames per second V7 extracts, or "native".',
          anyOf: [{ type: 'number', exclusiveMinimum: 0 }, { const: 'native' }],
        },
        as_frames: { type: 'boolean', description: 'The video becomes a set of frame images.' },
      },
    },
    upload_concurrency: {
      type: 'integer',
      minimum: 1,
      maximum: 32,
      description: `Uploads running at once per forwarder invocation (default ${V7_ASSUMPTIONS.defaultUploadConcurrency}).`,
    },
  },
};

export const fieldsSchema: JsonSchema = {
  type: 'object',
  required: ['name'],
  additionalProperties: false,
  properties: {
    name: {
      type: 'string',
      minLength: 1,
      pattern: '^[^/]+$',
      description:
        'The item name, unique per folder (V7 blocks a second one: ALREADY_EXISTS, so a key uploaded again ends ALREADY_PRESENT; add {object.etag} to keep each version).',
    },
    path: { type: 'string', description: 'The folder, e.g. /line-1/aoi-top (default /).' },
    tags: {
      type: 'array',
      items: { type: 'string', minLength: 1 },
      description: 'Tags that exist in the V7 team (unknown ones block the item: UNKNOWN_TAGS).',
    },
    storage_key: {
      type: 'string',
      minLength: 1,
      description:
        'External Storage only: the key V7 reads in the storage bucket (default: the object key). Ignored for standard upload.',
    },
  },
};

export interface V7Settings {
  team: string;
  dataset: string;
  external?: { storage: string; bucket?: string };
  video: { fps?: number | 'native'; asFrames?: boolean };
  concurrency: number;
}

const str = (v: JsonValue | undefined): string | undefined => (typeof v === 'string' ? v : undefined);
const obj = (v: JsonValue | undefined): JsonObject =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? v : {};

/** The destination's options, already checked against `optionsSchema` when the config was loaded. */
export function settingsOf(options: JsonObject): V7Settings {
  const ext = obj(options.external_storage);
  const video = obj(options.video);
  const storage = str(ext.storage_slug);
  const bucket = str(ext.bucket);
  const fps = video.fps;
  const s: V7Settings = {
    team: str(options.team_slug) ?? '',
    dataset: str(options.dataset_slug) ?? '',
    video: {},
    concurrency:
      typeof options.upload_concurrency === 'number'
        ? options.upload_concurrency
        : V7_ASSUMPTIONS.defaultUploadConcurrency,
  };
  if (storage) s.external = bucket ? { storage, bucket } : { storage };
  if (typeof fps === 'number' || fps === 'native') s.video.fps = fps;
  if (typeof video.as_frames === 'boolean') s.video.asFrames = video.as_frames;
  return s;
}

/** "/a//b/" → "/a/b"; "" → "/"; "cats" → "/cats" (V7 stores paths this way). */
export function normalizePath(p: string | undefined): string {
  const parts = (p ?? '').split('/').filter((s) => s.length > 0);
  return parts.length === 0 ? '/' : `/${parts.join('/')}`;
}

/** What one delivery becomes at V7: one single-slot item. */
export interface ItemSpec {
  name: string;
  path: string;
  /** The slot's file name: the object's own name, so that V7 infers the type from its extension. */
  fileName: string;
  tags: string[];
  video: boolean;
  /** External Storage: the key V7 reads. */
  storageKey: string;
}

export function itemOf(job: DeliveryJob): ItemSpec {
  const f = job.fields;
  const tags = Array.isArray(f.tags) ? f.tags.filter((t): t is string => typeof t === 'string') : [];
  return {
    name: str(f.name) ?? basenameOf(job.object.key),
    path: normalizePath(str(f.path)),
    fileName: basenameOf(job.object.key),
    tags,
    video: V7_ASSUMPTIONS.videoExtensions.includes(extensionOf(job.object.key)),
    storageKey: str(f.storage_key) ?? job.object.key,
  };
}

/** The `type` register_existing needs, from the key's extension; undefined when V7 cannot register it. */
export function externalTypeOf(key: string): string | undefined {
  const ext = extensionOf(key);
  for (const [type, exts] of Object.entries(V7_ASSUMPTIONS.externalTypes))
    if (exts.includes(ext)) return type;
  return undefined;
}

/** The video options of a slot (or a single-slot external item), for video files only. */
export function videoOptions(item: ItemSpec, s: V7Settings): JsonObject {
  if (!item.video) return {};
  const out: JsonObject = {};
  if (s.video.fps !== undefined) out.fps = s.video.fps;
  if (s.video.asFrames !== undefined) out.as_frames = s.video.asFrames;
  return out;
}

/** A `register_upload` item (darwin-py's `LocalFile.serialize_darwin_json_v2` shape). */
export function uploadItem(item: ItemSpec, s: V7Settings): JsonObject {
  const slot: JsonObject = { file_name: item.fileName, slot_name: '0' };
  if (item.tags.length > 0) slot.tags = item.tags;
  Object.assign(slot, videoOptions(item, s));
  return { name: item.name, path: item.path, slots: [slot] };
}

/** A single-slot `register_existing` item (darwin-py's `register_single_slotted` shape, plus tags). */
export function existingItem(item: ItemSpec, s: V7Settings): JsonObject {
  const out: JsonObject = {
    name: item.name,
    path: item.path,
    storage_key: item.storageKey,
    type: externalTypeOf(item.storageKey) ?? externalTypeOf(item.fileName) ?? 'image',
  };
  if (item.tags.length > 0) out.tags = item.tags;
  Object.assign(out, videoOptions(item, s));
  return out;
}

/** `https://darwin.v7labs.com` + `/api/v2/…`; a base_url that already ends in /api gets no second one. */
export function apiUrl(baseUrl: string, path: string): URL {
  const base = baseUrl.replace(/\/+$/, '').replace(/\/api$/, '');
  return new URL(`${base}/api${path}`);
}
