/**
 * Every choice the Instrumental simulator makes that the vendor does not document ([A] in
 * /work/shared/vendor-contracts.md §3). Change them here, in one place.
 */

/** §3.1 "50 megabytes": read as 50 MiB, the same number the relay's pre-flight uses. Larger → 413. */
export const MAX_FILE_BYTES = 50 * 1024 * 1024;

/** §3.1 "The JSON component of requests may be up to 4MB": read as 4 MiB. Larger → 413. */
export const MAX_JSON_BYTES = 4 * 1024 * 1024;

/** §3.1 "32MP or less (roughly 6528x4896px)": 32 000 000 pixels; 6528×4896 passes, 8000×6000 fails. */
export const MAX_PIXELS = 32_000_000;

/**
 * §3.1 says FILE_TOO_BIG is a 400 code *and* that larger requests get 413. The simulator answers 413 with the
 * `{code:"FILE_TOO_BIG",msg}` body (both facts at once); the `fileTooBigStatus` option switches to 400.
 */
export const FILE_TOO_BIG_STATUS: 400 | 413 = 413;

/** §3.1: the JSON part over the limit is a 413 as well; its body code is not documented. */
export const DATA_TOO_BIG_CODE = 'REQUEST_TOO_LARGE';

/** §3.3: one token bucket per API key (50 burst, 5/s), shared by ingestImage AND fileStatus. */
export const BURST = 50;
export const REFILL_PER_SECOND = 5;
export const RATE_LIMIT_SHARED_BY_FILE_STATUS = true;

/** §3.1 the 429 body is undocumented; the simulator also sends `retry-after` (whole seconds, at least 1). */
export const RATE_LIMITED_BODY = { code: 'RATE_LIMIT_EXCEEDED', msg: 'Rate limit exceeded; retry later.' };

/** §3.1 the 401 body is undocumented. */
export const UNAUTHORIZED_BODY = { code: 'UNAUTHORIZED', msg: 'Invalid API key.' };

/** §3.3 no documented fileStatus batch limit: the simulator caps at 100 ids (→ 400 COULD_NOT_PARSE). */
export const MAX_STATUS_IDS = 100;

/** §3.1 "e0Blm7EjlLQ2": file ids are 12 ASCII letters/digits; anything else is COULD_NOT_PARSE. */
export const FILE_ID_LENGTH = 12;
export const FILE_ID_PATTERN = /^[A-Za-z0-9]{12}$/;

/** §3.1 fileStatus without any `ids` parameter: not documented; answered 400 COULD_NOT_PARSE. */
export const NO_IDS_CODE = 'COULD_NOT_PARSE';

/** §3.3 PENDING_VALIDATION lasts "a few seconds" (real: up to ~60 s). */
export const VALIDATION_DELAY_MS = 2_000;

/** §3.1 "browser codecs, not mp4v": the only MP4 sample-entry 4CC refused at validation. */
export const REJECTED_VIDEO_CODECS: readonly string[] = ['mp4v'];

/** Bytes of each file the simulator inspects: enough for JPEG SOF and a fast-start MP4 moov... */
export const HEAD_BYTES = 256 * 1024;
/** ...and the last bytes, for MP4s whose moov comes after mdat. Files whose boxes cannot be walked pass. */
export const TAIL_BYTES = 256 * 1024;

/**
 * §3.1 key format `[project-slug:][key-name:]INST:V1:<identifier>:<secret>`. With two or more prefix segments the
 * first is the project slug and must match. With ONE prefix segment it may be either the slug or a key name, so
 * it is accepted whatever it says (the key name is free text and not stored).
 */
export const SINGLE_PREFIX_MAY_BE_KEY_NAME = true;

/** Project of a configured key that carries no slug. */
export const DEFAULT_PROJECT = 'sim-project';

/** §3.1 "lineName ... If one isn't provided, the line name will be recorded as Image Stream Line" (counts as a line). */
export const DEFAULT_LINE_NAME = 'Image Stream Line';

/** §3.1 per-project cardinality and per-unit limits (LIMIT_EXCEEDED / INVALID_ASSEMBLY_RELATIONSHIPS). */
export const LIMITS = {
  builds: 50,
  lines: 50,
  configs: 1000,
  stations: 500,
  fixtures: 1000,
  imageTypes: 1000,
  /** Per unit serial; one image is counted as one inspection, so the 500-inspection limit is the same check. */
  imagesPerUnit: 500,
  /** Distinct children of one unit; more → INVALID_ASSEMBLY_RELATIONSHIPS (not merged-unit totals). */
  subassembliesPerUnit: 349,
  /** More tags than this is a JSON-shape error ("Could not parse ..."). */
  tagsPerRequest: 100,
};

/**
 * Request-shape choices:
 * - optional fields sent as JSON `null` count as absent; unknown fields are ignored;
 * - `iso8601Time` must carry a zone (`Z` or ±hh:mm), `ianaTimeZone` must be a zone name Node's ICU knows;
 * - `parentAssembly` / `subassemblies[]` entries need string `unitSerial` and `relationshipName`;
 *   an empty `unitSerial` is INVALID_ASSEMBLY_RELATIONSHIPS;
 * - only the multipart part's filename is checked against the extensions (`data.fileName` is "mostly ignored");
 *   a `file` part without a filename is INVALID_DATA;
 * - the first `file` and the first `data` part are used, extra ones are ignored;
 * - a body that is not multipart/form-data (e.g. the doc's `content-type: application/json`) has no `data`
 *   section → REQUEST_DATA_NOT_FOUND; a malformed multipart body likewise;
 * - checks run in this order: 413 sizes, REQUEST_DATA_NOT_FOUND, IMAGE_FILE_NOT_FOUND, JSON shape,
 *   INVALID_DATA, INVALID_ASSEMBLY_RELATIONSHIPS, LIMIT_EXCEEDED.
 */
export const OPTIONAL_NULL_IS_ABSENT = true;

/**
 * "If the file's name does not end in .jpg, .jpeg, .mp4, or .webm, it will be rejected synchronously" [D] is
 * silent on case: the simulator takes the extensions in any case (`IMG.JPG` passes). The relay sends them
 * lower-cased, which passes under either reading.
 */
export const EXTENSIONS_IGNORE_CASE = true;

/** fileStatus: when both malformed and unknown ids are sent, COULD_NOT_PARSE wins. */
export const MALFORMED_BEFORE_NOT_FOUND = true;
