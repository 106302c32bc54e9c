import type { SimulatorOptions } from '../framework/index.ts';

/** An External Storage connection, as `GET /api/teams/{team}/storage` lists it (see README "Lookups"). */
export interface V7StorageConfig {
  /** The slug used as `storage_slug` (v1 `storage_name`); darwin-py calls it `name`. */
  name: string;
  /** Read-only connection: only `register_existing_readonly` may use it (default false: read-write). */
  readonly?: boolean;
  /** `aws` (default), `gcp` or `azure`. */
  provider?: string;
  /** Bucket (or container) name; default the storage name. */
  bucket?: string;
  /** Folder V7 writes thumbnails and derived files to (default ''). */
  prefix?: string;
  /** Default null. */
  region?: string | null;
  /** The team's default connection; when no storage says so, the first one is. */
  default?: boolean;
}

export interface V7TeamConfig {
  /** Dataset slugs of the team (the dataset `name` darwin-py shows is the slug too). */
  datasets: string[];
  /** External storage connections: a slug, or the connection's details. */
  storages?: Array<string | V7StorageConfig>;
  /** Tags that exist in the team; any other tag blocks the item (UNKNOWN_TAGS / v1 UNKNOWN_TAG). */
  tags?: string[];
  /** v1 only: tags that allow a text sub-annotation; `{tag: text}` on any other tag → MISSING_TEXT_FOR_TAG. */
  tagsWithText?: string[];
  /** Storage left for uploads; unlimited when absent. See README "Storage". */
  remainingStorageBytes?: number;
  /** Maximum number of items the team may hold (all datasets); more → ITEM_COUNT_LIMIT_EXCEEDED. */
  maxItems?: number;
}

export interface V7RateLimit {
  /** Requests per minute per API key (token bucket of that size refilled at perMinute/60 per second). */
  perMinute: number;
  /** Send `Retry-After` with the 429 (default true). */
  retryAfter?: boolean;
  /** Limit only these route names (default: every /api route). */
  routes?: string[];
}

export interface V7DarwinOptions extends SimulatorOptions {
  apiKeys: Record<string, { team: string }>;
  teams: Record<string, V7TeamConfig>;
  /** Expiry of a presigned upload URL / POST policy (default 15 min). */
  signedUrlTtlMs?: number;
  /** Largest JSON body accepted on /api routes before 413 (default 10 MiB, measured after decompression too). */
  maxRequestBytes?: number;
  /** Largest object accepted by the S3 endpoints (default 5 GiB) → 400 EntityTooLarge. */
  maxUploadBytes?: number;
  /** Refuse presigned PUTs without Content-Length with 411 MissingContentLength (default true). */
  requireContentLength?: boolean;
  /** Largest number of items per register call (default 500) → 422. */
  maxItemsPerRequest?: number;
  rateLimit?: V7RateLimit;
  /** Time a confirmed slot stays `processing` before `complete` (default 0: complete at once). */
  processingDelayMs?: number;
  /** Enables the legacy v1 routes (default false: they answer 404). */
  legacyV1?: boolean;
  /** v1 sign answer: S3 POST form (before Oct 2021, default) or `{upload_url}` for a raw PUT (after). */
  legacyV1Mode?: 'post-form' | 'put';
  /** Clock in ms (default Date.now): URL expiry and the rate limiter read it, so tests can move time. */
  clock?: () => number;
  /**
   * A presigned PUT whose body stops arriving for this long (no byte at all, or none after a first part) is
   * answered as S3 does: 400 `RequestTimeout`, connection closed, nothing stored (default 20 000 ms).
   */
  s3IdleTimeoutMs?: number;
}

export type SlotStatus = 'awaiting_upload' | 'uploaded' | 'processing' | 'complete';
export type ItemSource = 'upload' | 'external' | 'external_readonly' | 'v1_upload' | 'v1_external';

export interface V7Slot {
  slot_name: string;
  file_name: string;
  type: string;
  /** Set for slots that are uploaded (v2 register_upload and v1 items). */
  upload_id?: string;
  storage_key?: string;
  as_frames: boolean;
  extract_views: boolean;
  fps?: number | string;
  tags: string[];
  status: SlotStatus;
  /** `size_bytes` declared at registration, if any. */
  declared_size?: number;
  /** What the PUT / POST form delivered. */
  size?: number;
  sha256?: string;
  md5?: string;
  content_type?: string;
  /** How many times bytes were received for this slot (a re-PUT before confirm replaces them). */
  upload_count: number;
  /** Read-only / v1 external metadata (width, height, thumbnail keys…), as sent. */
  metadata: Record<string, unknown>;
}

export interface V7Item {
  id: string;
  /** v1 integer `dataset_item_id`. */
  legacy_id?: number;
  team: string;
  dataset: string;
  name: string;
  path: string;
  source: ItemSource;
  storage_slug?: string;
  /** `processing` while a slot is not complete, then `complete`. `uploading` before every slot is confirmed. */
  status: 'uploading' | 'processing' | 'complete';
  layout?: unknown;
  slots: V7Slot[];
  /** v1 text sub-annotations on tags (`{tag: text}`). */
  tag_texts?: Record<string, string>;
  created_seq: number;
}
