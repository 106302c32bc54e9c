/**
 * Every [A] (assumption) the InstaVid360 simulator relies on, in one place so it is easy to change.
 * Section numbers refer to /work/shared/vendor-contracts.md §4; "S2" is the vendor doc
 * (vendor-docs/instavid360-image-api.txt), "IV-DOC" the newer public render.
 */

/** §4.2 [A] statuses: `new` → `processing` → `complete` | `failed`. Only `new` is documented (S2). */
export const TASK_STATUSES = ['new', 'processing', 'complete', 'failed'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];
export const TERMINAL_STATUSES: readonly TaskStatus[] = ['complete', 'failed'];

/**
 * `task_type` labels. "Background Replace" is documented [D] S2 (status example); the LPA label is not [A],
 * so we use the spelling of the product name as an American-English label.
 */
export const TASK_TYPE_LABELS = {
  bgReplace: 'Background Replace',
  lpa: 'License Plate Anonymization',
} as const;

/** [A] §4.2: error envelopes reuse the documented envelope, with `code` set to the HTTP status. */
export const ERROR_CODE_IS_HTTP_STATUS = true;
export const LOCALE = 'en';
export const OK_MESSAGE = 'OK';

/** [A] §4.2 401 for a bad or missing token, same envelope. */
export const UNAUTHENTICATED = { status: 401, message: 'Unauthenticated.' } as const;

/** [A] §4.2 422 for validation failures, reasons in `data.messages`. */
export const VALIDATION = { status: 422, message: 'The given data was invalid.' } as const;

/** [A] §4.2 429 when the per-minute limit is exceeded. IV-DOC gives no number: default 60 per user per minute. */
export const RATE_LIMIT = {
  status: 429,
  message: 'Too Many Attempts.',
  defaultRequestsPerMinute: 60,
} as const;

/**
 * [A] §4.2 quota exhausted: the contract allows 429 or 403 with `success:false`; we pick **429** (so a client's
 * 429 handling applies) with `Retry-After` = seconds until the monthly reset (large, unlike the per-minute 429).
 * IV-DOC: monthly quota per service type, one credit per successful task request. Numbers are not published:
 * default 1000 per type per user per calendar month (UTC).
 */
export const QUOTA = {
  status: 429,
  message: 'Monthly quota exhausted.',
  defaultMonthly: { bgReplace: 1000, lpa: 1000 },
} as const;

/** [A] §4.2 unknown task (or another user's task) → 404 with the same envelope. */
export const TASK_NOT_FOUND = { status: 404, message: 'Task not found.' } as const;

/** [A] the status query is POST [D]; a GET on it answers 405 (as a Laravel-style API would), with `Allow: POST`. */
export const WRONG_METHOD = {
  status: 405,
  message: 'The GET method is not supported for this route.',
} as const;

/** [D] S2 "Maximum upload size: 2MB"; [A] read as 2 MiB (Laravel `max:2048` kilobytes). */
export const DEFAULT_MAX_UPLOAD_BYTES = 2 * 1024 * 1024;

/**
 * [A] declared part Content-Types accepted for an upload. A declared image type must agree with the sniffed
 * magic bytes; a generic declared type (what many clients send for a Blob) is decided by sniffing alone.
 */
export const DECLARED_JPEG_TYPES = ['image/jpeg', 'image/jpg', 'image/pjpeg'];
export const DECLARED_PNG_TYPES = ['image/png', 'image/x-png'];
export const GENERIC_DECLARED_TYPES = ['', 'application/octet-stream', 'binary/octet-stream'];

/** [A] the reference is unique per user across both task types (§4.2 "reference uniqueness"). */
export const REFERENCE_MAX_LENGTH = 255;

/** [A] an LPA task's `original` must be an imagekey uploaded as kind `original` (S2 "upload the original image"). */
export const LPA_ORIGINAL_KIND = 'original';

/** [A] task creation answers HTTP 200 (S2 shows only the body). */
export const TASK_CREATED_STATUS = 200;

/**
 * [A] §4.2 `result` when complete: `{ url }` pointing at the processed image, served by the simulator at
 * `/results/<task>.<jpg|png>` with a signed-looking query (`expires`, `signature`), like a presigned S3 URL:
 * no Authorization header is needed (or checked) there; a bad/missing signature or an expired URL answers 403.
 * The output format follows the original image's format.
 */
export const RESULT_PATH_PREFIX = '/results';
export const DEFAULT_RESULT_URL_TTL_MS = 60 * 60 * 1000;
export function resultObject(url: string): { url: string } {
  return { url };
}

/**
 * [A] §4.2 on failure, reasons go in `message` or `data.messages`: the status/callback envelope of a failed task
 * keeps `success:true` (the query itself succeeded), sets `message` to "Task failed: <reason>" and adds
 * `data.messages: [<reason>]`; `result` stays null.
 */
export const FAILED_MESSAGE_PREFIX = 'Task failed: ';
export const DEFAULT_FAILURE_REASONS = {
  bgReplace: 'Background replacement failed: the subject could not be separated from the background.',
  lpa: 'Licence plate anonymisation failed: the image could not be processed.',
} as const;

/**
 * [A] per-task forced failure: `meta.simulate_failure === true` fails the task (default reason), a non-empty
 * string fails it with that string as the reason. (meta is echoed back as is, as S2 documents.)
 */
export const FORCED_FAILURE_META_KEY = 'simulate_failure';

/**
 * [A] §4.2 callback: POST, `Content-Type: application/json`, body = the status envelope, sent once when the task
 * is terminal, unsigned, no retries. The simulator only ever sends to loopback hosts.
 */
export const LOOPBACK_HOSTS = ['127.0.0.1', 'localhost', '[::1]', '::1'];
export const CALLBACK_USER_AGENT = 'InstaVid360-Simulator/1.0';
export const DEFAULT_CALLBACK_TIMEOUT_MS = 2_000;

/** [A] lifecycle timings (nothing is documented): defaults short enough for a local demo. */
export const DEFAULT_PROCESSING_AFTER_MS = 200;
export const DEFAULT_COMPLETE_AFTER_MS = 1_000;

/**
 * [A] image processing, so that results are real, checkable images:
 * - bg-replace: output has the original's size; background (and overlay) are scaled to it (nearest neighbour).
 *   A pixel of the original is foreground with weight alpha/255, except near-white pixels (all channels ≥
 *   NEAR_WHITE_THRESHOLD), which count as background (a "white studio" key). The overlay is keyed the same way
 *   and alpha-blended on top. `options.shadow` darkens the background under a copy of the foreground mask
 *   shifted by SHADOW_OFFSET (fractions of width/height) by SHADOW_STRENGTH.
 * - LPA: the licence plate is assumed at LPA_RECT (fractions of width/height: centred, lower third), which is
 *   pixelated in blocks of max(2, round(min(rectW, rectH) / LPA_BLOCK_DIVISOR)) pixels.
 */
export const NEAR_WHITE_THRESHOLD = 235;
export const SHADOW_OFFSET = { x: 0.02, y: 0.03 } as const;
export const SHADOW_STRENGTH = 0.5;
export const LPA_RECT = { x: 0.3, y: 0.7, width: 0.4, height: 0.15 } as const;
export const LPA_BLOCK_DIVISOR = 4;
export const JPEG_QUALITY = 90;
