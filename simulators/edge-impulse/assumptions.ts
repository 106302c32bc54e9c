/**
 * Every [A] (assumption) the Edge Impulse simulator relies on, in one place so it is easy to change.
 * Section numbers refer to /work/shared/vendor-contracts.md §1. Documented ([D]) and client-code ([C]) facts are
 * not here; they live in the code next to a comment citing the contract.
 */

/** §1.5: `/files` answers a JSON body with the documented Content-Type text/plain (clients ignore it). */
export const DEFAULT_RESPONSE_CONTENT_TYPE = 'text/plain';

/**
 * §1.1: "The maximum size of a single file is 100 MB" [D]. Read in decimal units: a file of 100,000,000 bytes
 * passes and one byte more fails. The CLI checks `>= 100 * 1024 * 1024` and calls that "100MB" [C], so it sends
 * files of 100,000,001 to 104,857,599 bytes that this simulator refuses. Followed: the doc, on purpose at its
 * strictest reading. Whichever unit the real service uses, a relay that stays within this limit is within it too;
 * a simulator that allowed 100 MiB would let a relay send files that the documented limit forbids.
 * §1.5: a part over the limit fails the whole request with 400 (413 would be as plausible; undocumented).
 */
export const DEFAULT_MAX_FILE_BYTES = 100_000_000;
export const FILE_TOO_LARGE_STATUS = 400;

/**
 * §1.1: at most 1000 files per request. Every file part counts (samples, `.labels` files and attachments), which
 * is the conservative reading. §1.5: more → 400 for the whole request.
 */
export const DEFAULT_MAX_FILES_PER_REQUEST = 1000;
export const TOO_MANY_FILES_STATUS = 400;

/** §1.5 says nothing about it: an invalid `x-metadata` or `x-bounding-boxes` header fails the request with 400. */
export const INVALID_HEADER_STATUS = 400;

/** §1.5: duplicate message, with the ids of the stored samples that have the same hash. */
export function duplicateError(ids: number[]): string {
  return `An item with this hash already exists (ids: ${ids.join(', ')})`;
}

/** §1.1: on `/data`, a duplicate (with `x-disallow-duplicates`) answers 400 with the same text (undocumented). */
export const DATA_DUPLICATE_STATUS = 400;

/**
 * §1.1 `x-disallow-duplicates`: "When set, the server checks the hash" [D]. Read literally: the header turns the
 * check on whatever its value, `0`, `false` and empty included; only its absence leaves it off. The clients agree:
 * the CLI and the Python SDK send `1` to ask for the check and omit the header to allow duplicates; neither ever
 * sends `0` [C]. A client that sent `0` to mean "off" would rely on something the doc does not promise, and this
 * simulator shows it (its duplicates are refused). Unlike `x-no-label` and `x-add-date-id`, whose doc gives the
 * value `1`, this header's doc gives no value.
 */
export function headerIsPresent(value: string | undefined): boolean {
  return value !== undefined;
}

/** §1.1 `x-no-label: 1`, `x-add-date-id: 1`: `1` or `true` (any case) switch the behaviour on. */
export function headerIsTrue(value: string | undefined): boolean {
  if (value === undefined) return false;
  const v = value.trim().toLowerCase();
  return v === '1' || v === 'true';
}

/**
 * §1.1 label inference regex `^[a-zA-Z0-9\s-_]+`. Inside a character class `\s-_` cannot be a range, and JS
 * (Annex B) reads the `-` literally, so the documented intent is: letters, digits, whitespace, `-` and `_`.
 * Written with the `-` last so that no engine can read a range. `idle.01` → `idle`.
 * When nothing matches (a name starting with `.` or `#`), the sample is stored without a label.
 */
export const LABEL_INFERENCE_REGEX = /^[a-zA-Z0-9\s_-]+/;

/**
 * §1.1 `x-add-date-id: 1`: "adds a unique ID to the end" of the file name. The simulator inserts `.<8 lowercase
 * alphanumerics>` before the extension: `test.wav` → `test.2ccv5m2f.wav` (shape of Studio's sample names).
 */
export const DATE_ID_LENGTH = 8;
export const DATE_ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/**
 * §1.1 `split` category: "uses the project's split ratio". The simulator draws with its seeded generator:
 * training with this probability, else testing. `validation` is always accepted (docs: "only when enabled").
 */
export const DEFAULT_SPLIT_TRAIN_RATIO = 0.8;

/** Unknown category in the path (`/api/foo/files`) → 404 (no route on the real service). */
export const UNKNOWN_CATEGORY_STATUS = 404;

/** `/files` without a multipart/form-data body → 400 `{success:false,error}`. */
export const NOT_MULTIPART_STATUS = 400;

/**
 * §1.1 says every part is named `data`. A file part with another name, or a part without a filename (a plain
 * field), fails the whole request with 400 (multer-style "Unexpected field"); it is most likely a client bug.
 * A request with no sample at all → 400 as well.
 */
export const UNEXPECTED_PART_STATUS = 400;

/**
 * §1.2: a `.labels` file that is not valid JSON, has an unknown `type`/`version`, or names a sample file that is
 * not in the same request → 400 for the whole request (there is no per-file entry it could be reported on).
 * A label entry that IS for a sample in the request but is invalid (width ≤ 0, gaps in structured labels) →
 * per-file failure of that sample; the other samples are stored.
 * A `.labels` file is recognised by its file name ending `.labels`; its kind by its `type` field.
 */
export const LABEL_FILE_ERROR_STATUS = 400;

/**
 * §1.2 `attachments.labels`: a referenced attachment that is not a part of the request → per-file failure of
 * the sample it belongs to. Attachment parts are not samples (no entry of their own in `files`).
 */
export const MISSING_ATTACHMENT_IS_PER_FILE = true;

/**
 * §1.1 / §1.4 sample types. The extension decides when it is one the CLI allows; binary types must then carry
 * matching magic bytes (per-file failure otherwise), except images, below. A name without an allowed extension
 * (`idle.01`, `frame`) is sniffed by content; content that is none of the allowed types → per-file failure
 * "Unsupported file type". An empty file → per-file failure.
 */
export const EMPTY_FILE_IS_FAILURE = true;

/**
 * Images are sniffed by content: under `.jpg`, `.jpeg` or `.png` the service stores JPEG or PNG bytes as what they
 * are ([C] the Python SDK's integration tests upload PNG bytes named `….png.<id>.jpg`, Edge Impulse's own export
 * names, and expect them stored). The sample's `kind` is the content's. Other content under an image name fails
 * that file. Only images: no client or doc shows the service taking, say, WAV bytes named `.mp4`, so every other
 * binary extension must still match its content.
 */
export const IMAGES_SNIFFED_BY_CONTENT = true;

/**
 * CSV samples (EI CSV spec [D], see csv.ts): what the doc leaves open.
 * - Every value must be a number (the format carries sensor readings). A non-numeric cell fails the file.
 * - `.txt` is parsed as CSV too: the CLI and Studio take `.txt` for CSV data (same size rules, CSV wizard), and the
 *   Python SDK's test file `good.02.txt` is a CSV.
 * - Intervals between timestamps are not checked ("should have constant intervals": the service infers the
 *   frequency from them, it does not say it refuses uneven ones).
 * - A CSV larger than `inspectBytes` is stored unchecked (`validated: false`), like JSON/CBOR documents.
 * - No CSV-wizard configuration: every CSV is read in the default format.
 */
export const CSV_VALUES_MUST_BE_NUMBERS = true;
export const TXT_IS_CSV = true;

/**
 * JSON/CBOR samples on `/files` are validated as data-acquisition documents (§1.3); a malformed document is a
 * per-file failure. Documents larger than `inspectBytes` are stored without validation (noted in the log).
 */
export const DEFAULT_INSPECT_BYTES = 8 * 1024 * 1024;

/**
 * §1.3 document validation details not spelled out by the docs:
 * - `interval_ms` must be a finite number ≥ 0;
 * - `sensors` must be a non-empty array of `{name: string, units: string}` (units not checked against SenML);
 * - `values` must be non-empty; each row an array of numbers as long as `sensors`; with ONE sensor a row may
 *   also be a bare number (lenient);
 * - `iat`, when present, must be a number; `device_name`, when present, a string.
 */
export const ACQ_ALLOW_BARE_NUMBER_ROWS_FOR_ONE_SENSOR = true;

/**
 * §1.3 optional fields sent as JSON `null` (CBOR null/undefined) count as absent: `protected.iat`,
 * `payload.device_name`, and `signature` when `alg` is `none`. The Python SDK serialises its dataclasses with
 * `asdict()`, so every numpy/pandas upload carries exactly these three nulls, and its integration tests expect
 * those uploads stored [C]. The doc calls `signature` "required": with `alg: none` it signs nothing, so a null
 * one is taken; with `HS256` a missing or null signature still fails the document.
 */
export const ACQ_NULL_IS_ABSENT = true;

/**
 * §1.3 signature check. No HMAC key configured for the project, or `alg: "none"` → not verified
 * (`signatureValid` left undefined). A signature that does not verify → stored anyway ([D] EI-ING-OLD),
 * `signatureValid: false`. When false, an invalid signature fails the sample instead (400 on `/data`).
 */
export const STORE_INVALID_SIGNATURES = true;

/**
 * §1.4 "be lenient on /data": the body is sniffed (JSON when it starts with `{`, CBOR when it starts with a CBOR
 * map), whatever its Content-Type. A multipart body (Rust runner, part `message`) is accepted: its first file
 * part (any name) is the document, else its first field. `/data` answers plain text for errors too
 * (the documented "see body"), including 401.
 */
export const DATA_ERRORS_ARE_PLAIN_TEXT = true;

/**
 * §1.4: raw headers (Python SDK) may carry UTF-8 that Node reads as latin1; when a header value re-decodes as
 * valid UTF-8 it is used that way. The same repair is applied to multipart file names (busboy reads latin1).
 */
export const REPAIR_UTF8_HEADERS = true;

/**
 * Structured labels (§1.2) must start at index 0 and be contiguous with no overlap. The total count is
 * "determinable" for data-acquisition documents (`values.length`) and CSV (its data rows); for those the last
 * `endIndex` must be count − 1. For other types only the contiguity is checked.
 */
export const STRUCTURED_LABELS_COVER_KNOWN_LENGTH = true;

/** Sample ids are sequential integers per simulator, starting at a base drawn from the seed. */
export const SAMPLE_ID_BASE_RANGE: [number, number] = [100_000, 900_000];

/**
 * The `/files` answer has `success: true` whenever the request itself was valid, even when every sample failed
 * (the per-file entries carry the failures), as the clients parse it (§1.1).
 */
export const TOP_LEVEL_SUCCESS_WHEN_ALL_FILES_FAIL = true;

/**
 * When a sample has both an entry in `bounding_boxes.labels` and the legacy `x-bounding-boxes` header, the
 * `.labels` entry wins. The header applies to every sample of the request otherwise.
 */
export const LABELS_FILE_BEATS_BOUNDING_BOX_HEADER = true;

/**
 * A sample with structured (multi-) labels gets no single label inferred from its file name (the CLI sends no
 * `x-label` for such samples); an explicit `x-label` is still recorded.
 */
export const INFER_LABEL_FOR_STRUCTURED_SAMPLES = false;

/**
 * Studio API (studio.ts), only the routes the official uploader calls first. The published OpenAPI declares only
 * 200 answers, with failures as `{success:false,error}`; the simulator answers a missing or unknown `x-api-key`
 * with 401 and that body (the CLI reads `error` either way), and a key asking for another project with 403.
 */
export const STUDIO_UNAUTHORIZED_STATUS = 401;
export const STUDIO_FOREIGN_PROJECT_STATUS = 403;

/**
 * `GET /v1/api/{projectId}/devkeys/hmac` answers the project's HMAC key (the `hmacKeys` option) when it has one, so
 * that what the uploader signs with it verifies here; without one, `{success:true}` and no key (the OpenAPI:
 * "This key can be `undefined` if no development keys are set"; the CLI then signs with `'0'`).
 */
export const STUDIO_HMAC_DEVKEY_IS_PROJECT_KEY = true;
