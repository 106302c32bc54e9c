/**
 * Every [A] (assumption) the V7 Darwin simulator relies on, in one place so that it is easy to change.
 * Section numbers refer to /work/shared/vendor-contracts.md §2; [D]/[C] facts are cited where a constant
 * only refines a documented/observed value.
 */

/** §2.1 "Batch size": V7 docs advise ≤ 500 items per request [D]; what happens above it is [A]: 422. */
export const MAX_ITEMS_PER_REQUEST = 500;

/** §2.1 register: multi-slot items carry a layout of ≤ 16 slots [C]; more slots → 422 [A]. */
export const MAX_SLOTS_PER_ITEM = 16;

/**
 * §2.1 errors table: a key used on another team's URL. The contract allows 404 or 401 [A]; we answer 404
 * NOT_FOUND (V7-TS lists a wrong team_slug under "Not found", and it leaks nothing about the other team).
 */
export const FOREIGN_TEAM_STATUS: 401 | 404 = 404;

/** §2.3: the presigned URL is a simulator-hosted path with an expiry [A]. Default TTL (option `signedUrlTtlMs`). */
export const DEFAULT_SIGNED_URL_TTL_MS = 15 * 60_000;

/**
 * S3 answers a request whose body stops arriving with 400 `RequestTimeout` ("Your socket connection to the
 * server was not read from or written to within the timeout period") and closes the connection [A: S3's
 * behaviour, not in the V7 contract]. darwin-py meets it after a 503 on the PUT: it re-sends the already
 * consumed file stream with its Content-Length and no body [C V7-PY `upload_manager.py::_do_upload_file`].
 * How long S3 waits is not published; ~20 s is what it is commonly observed to wait [A]. Option
 * `s3IdleTimeoutMs`; tests set it short.
 */
export const DEFAULT_S3_IDLE_TIMEOUT_MS = 20_000;

/**
 * Lookups darwin-py makes before any upload [C V7-PY `client.py`]; the contract (§2.1) does not list them, so
 * every field value below is [A] unless darwin-py's own tests show it:
 * - `GET /api/users/token_info` → `{selected_team: {slug}}`: darwin-py reads only `selected_team.slug` [C
 *   `Client.from_api_key`, `future/meta/client.py`]; the real answer carries more (user, other teams), which
 *   the simulator omits [A].
 * - `GET /api/datasets` → the key's team's datasets `[{id, name, slug, num_items, progress}]` [C
 *   `Client.list_remote_datasets`, fixture `client_test.py`]. `id` is an integer [C fixture]; the simulator
 *   numbers every team's datasets from 1 in configuration order (`datasetId`) [A]; `name` is the slug [A];
 *   `num_items` counts the dataset's items, blocked ones excluded [A]; `progress` is annotation progress, and
 *   nothing is annotated here: `DATASET_PROGRESS` [A].
 * - `GET /api/teams/{team}/storage` → `[{name, prefix, readonly, provider, default, bucket, region}]` [C
 *   `Client.list_external_storage_connections`, fixture `client_test.py`]; `name` is the slug that
 *   `register_existing*` take as `storage_slug` [C `remote_dataset_v2.py::register_single_slotted`]. Defaults
 *   for a storage configured by slug alone: read-write, `DEFAULT_STORAGE_PROVIDER`, bucket = slug, prefix '',
 *   region null; the first storage is the default unless one says `default: true` [A].
 * The three go through the same auth, rate limit and team checks as every /api route [A].
 */
export const DATASET_PROGRESS = 0;
export const DEFAULT_STORAGE_PROVIDER = 'aws';

/**
 * `register_existing` (read-write) naming a read-only storage → 422 `{"errors":{"storage_slug":[…]}}` [A]:
 * V7 cannot write thumbnails there, so it needs the read-only payload (§2.1: the two payloads differ and "422
 * if mixed up" [D V7-TS]). `register_existing_readonly` accepts a read-write storage too [A]: nothing is
 * written either way.
 */
export const READONLY_STORAGE_REJECTS_READWRITE_REGISTRATION = true;

/** §2.1 413 `RequestEntitySizeExceeded` [C]; the limit itself is not published [A]. Option `maxRequestBytes`. */
export const DEFAULT_MAX_REQUEST_BYTES = 10 * 1024 * 1024;

/** S3 single PUT limit (5 GiB) [A]. Option `maxUploadBytes`; above it → 400 `EntityTooLarge` (S3 style). */
export const DEFAULT_MAX_UPLOAD_BYTES = 5 * 1024 ** 3;

/**
 * A presigned S3 PUT without Content-Length (chunked transfer encoding) is refused by S3 with
 * 411 `MissingContentLength` [A]. darwin-py always sends Content-Length [C]. Option `requireContentLength`.
 */
export const DEFAULT_REQUIRE_CONTENT_LENGTH = true;

/**
 * §2.1 blocked items: darwin-py's own fixture shows blocked slots carrying an `upload_id` [C]; we copy that,
 * but the id is never registered, so signing it answers 404 [A]. A blocked ALREADY_EXISTS item carries the id
 * of the item that already exists [A]; other blocked items carry a fresh id that is not stored [A].
 */
export const BLOCKED_SLOTS_CARRY_UPLOAD_ID = true;

/** §2.1 register: an item without `path` lands in the dataset root [A] (darwin-py defaults to "/" [C]). */
export const DEFAULT_ITEM_PATH = '/';

/**
 * §2.1 / vendor doc S3: tags must be pre-created. A team without a `tags` list knows no tags, so every tag is
 * unknown [A]. v2 reason `UNKNOWN_TAGS` (darwin-py fixture [C]); v1 reason `UNKNOWN_TAG` (vendor doc [D]).
 */
export const V2_UNKNOWN_TAGS_REASON = 'UNKNOWN_TAGS';
export const V1_UNKNOWN_TAG_REASON = 'UNKNOWN_TAG';
export const V1_MISSING_TEXT_REASON = 'MISSING_TEXT_FOR_TAG';

/** §2.1 blocked-item reasons from darwin-py constants [C]. */
export const ALREADY_EXISTS_REASON = 'ALREADY_EXISTS';
export const ITEM_COUNT_LIMIT_REASON = 'ITEM_COUNT_LIMIT_EXCEEDED';

/** §2.2: v1 `dataset_item_id` is an integer [D]; the vendor doc's example starts at 5600, so do we [A]. */
export const V1_FIRST_DATASET_ITEM_ID = 5600;

/** §2.2: S3 bucket name shown in v1 POST-form answers and S3 XML bodies [A]. */
export const S3_BUCKET = 'darwin-sim-data';

/**
 * §2.1 slot `type` is inferred from the file extension [A] (darwin-py sends `type` only for external storage).
 * Unknown extensions become `image` [A].
 */
export const EXTENSION_TYPES: Record<string, string> = {
  jpg: 'image',
  jpeg: 'image',
  png: 'image',
  bmp: 'image',
  tif: 'image',
  tiff: 'image',
  webp: 'image',
  jfif: 'image',
  gif: 'image',
  mp4: 'video',
  mov: 'video',
  avi: 'video',
  mkv: 'video',
  webm: 'video',
  m4v: 'video',
  pdf: 'pdf',
  dcm: 'dicom',
  nii: 'dicom',
  svs: 'image',
};
export const FALLBACK_SLOT_TYPE = 'image';

/**
 * §2.1 external storage, read-only: slots carry pre-computed metadata and a different payload from read-write;
 * mixing them up is a 422 [D V7-TS]. Which fields are required is [A] (from the vendor doc S3: readonly needs
 * thumbnail keys and dimensions).
 */
export const READONLY_REQUIRED_SLOT_FIELDS = [
  'slot_name',
  'file_name',
  'storage_key',
  'width',
  'height',
  'storage_thumbnail_key',
] as const;

/** Fields that only make sense for read-only registration; sending them to `register_existing` → 422 [A]. */
export const READONLY_ONLY_FIELDS = [
  'storage_thumbnail_key',
  'storage_sections_key_prefix',
  'storage_sections_key_extension',
  'storage_low_quality_sections_key_prefix',
  'storage_frames_manifest_key',
  'storage_audio_peaks_key',
  'hls_segments',
  'native_fps',
  'visible_frames',
  'total_frames',
] as const;

/** Fields that are invalid in read-only slots (darwin-py strips them for ReadOnlyVideoSlot [C]) → 422 [A]. */
export const READWRITE_ONLY_SLOT_FIELDS = ['fps', 'as_frames'] as const;

/**
 * §2.1 429 INSUFFICIENT_REMAINING_STORAGE [C] — when it is raised is [A]:
 * - at register_upload: when the team has no storage left, or when the declared `size_bytes` of the slots in
 *   the request add up to more than what remains (the whole request is refused, nothing is registered);
 * - at confirm: when the uploaded size is more than what remains (the slot stays `uploaded`; the client may
 *   confirm again once storage is freed). A confirmed upload consumes its size.
 * External storage (register_existing*) consumes nothing.
 */
export const STORAGE_CHECKED_AT = ['register_upload', 'confirm'] as const;

/** §2.3: confirming before the PUT arrived → 4xx [A]: 422 with this code. */
export const CONFIRM_BEFORE_UPLOAD_STATUS = 422;

/** Signing an upload that was already confirmed → 422 [A] (confirm itself stays idempotent: 200 `{}` again). */
export const SIGN_AFTER_CONFIRM_STATUS = 422;

/**
 * Rate limit [A] (§2.3: V7 publishes no numbers): a token bucket per API key of `perMinute` tokens refilled at
 * perMinute/60 per second, applied after authentication, on /api routes only (S3 is not limited by it).
 */
export const RATE_LIMIT_PER_KEY = true;

/** Error bodies [A]. darwin-py reads `errors` as an object (§2.1 errors table); codes follow V7-TS where known. */
export const errorBody = {
  notAuthenticated: () => ({ errors: { code: 'NOT_AUTHENTICATED', message: 'Invalid or missing API key' } }),
  notFound: (what: string) => ({ errors: { code: 'NOT_FOUND', message: `${what} not found` } }),
  /** 422 `{"errors":{<field>: [messages], code: "INVALID_REQUEST"}}` (Phoenix-style field errors + doc code). */
  invalid: (fields: Record<string, string[]>) => ({ errors: { code: 'INVALID_REQUEST', ...fields } }),
  tooManyItems: (count: number, max: number) => ({
    errors: { code: 'INVALID_REQUEST', items: [`should have at most ${max} item(s), got ${count}`] },
  }),
  rateLimited: () => ({ errors: { code: 'RATE_LIMIT_EXCEEDED', message: 'Too many requests' } }),
  insufficientStorage: () => ({ errors: { code: 'INSUFFICIENT_REMAINING_STORAGE' } }),
  payloadTooLarge: (limit: number) => ({
    errors: { code: 'PAYLOAD_TOO_LARGE', message: `request body exceeds ${limit} bytes` },
  }),
  notUploaded: () => ({
    errors: { code: 'UPLOAD_NOT_RECEIVED', message: 'the file has not been uploaded yet' },
  }),
  alreadyConfirmed: () => ({
    errors: { code: 'UPLOAD_ALREADY_CONFIRMED', message: 'this upload was already confirmed' },
  }),
};

/** Phoenix-style validation messages [A]. */
export const MSG = {
  blank: "can't be blank",
  invalid: 'is invalid',
  unexpected: 'is an unexpected field',
  duplicate: 'has already been used in this item',
  useReadonly: 'is a read-only field: use register_existing_readonly',
  useReadwrite: 'is not accepted for read-only storage: use register_existing',
  readonlyStorage: 'is a read-only storage: use register_existing_readonly',
} as const;
