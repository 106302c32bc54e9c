/**
 * Every V7 Darwin detail the plug-in relies on that V7 does not document ([A] in ../shared/vendor-contracts.md
 * §2.3, or a choice where the contract is silent). One place, so that a correction from V7 is a one-line change;
 * each is named and tested in v7-darwin.test.ts. Facts the contract marks [D] or [C] are cited where a constant
 * only restates them.
 */
export const V7_ASSUMPTIONS = {
  /**
   * Items per register call. V7 advises ≤ 500 items per request [D V7-TS] and darwin-py sends 500 per
   * `register_upload` [C]; that more are refused (422) is [A]. The same bound is used for `register_existing`,
   * where darwin-py sends 10 per call [C]: V7 documents no smaller limit for it, only that it is rate limited
   * [D V7-EXT], which the shared backoff handles.
   */
  maxItemsPerRegister: 500,

  /**
   * Where V7 processes an item after confirm (thumbnails, frames), nothing in the contract reports it: §2.1 has
   * no item-status route, and darwin-py reads no status after `confirm` (it ignores confirm's body) [C]. So the
   * relay cannot follow an item up with the poller: a confirmed upload (or a registered External Storage item)
   * is recorded UPLOADED, final, with the item id as `vendorRef`. V7's processing failures show in V7 only.
   */
  pollsAfterConfirm: false,

  /**
   * One sign → PUT → confirm per item inside one delivery attempt: a PUT that failed (5xx, S3's 503 SlowDown or
   * 400 RequestTimeout, a dropped connection, 403 for an expired URL) is re-signed and re-sent at most this many
   * times in all per attempt; then the delivery goes back to the core's backoff with its checkpoint, and the next
   * attempt signs again. Bounded by `relay.max_attempts` across attempts.
   */
  maxPutsPerAttempt: 3,

  /**
   * The `errors.code` of confirm before the bytes arrived, and of sign after confirm [A: the simulator's own
   * codes; V7 publishes neither]. `uploadNotReceived` at confirm: sign and PUT again. After a PUT that got no
   * answer, any 4xx at confirm but a 429 is read the same way, whatever its code (bounded by
   * `maxPutsPerAttempt`), rather than rejecting a file that may just not have arrived. `alreadyConfirmed` at
   * sign: an earlier confirm whose answer was lost went through.
   */
  uploadNotReceivedCode: 'UPLOAD_NOT_RECEIVED',
  alreadyConfirmedCode: 'UPLOAD_ALREADY_CONFIRMED',

  /**
   * A sign or confirm that met a 429 (not storage) or a 5xx, or got no answer, is tried again at once this many
   * times in all per attempt (both are idempotent: sign makes a new URL, confirm answers 200 again [A, §2.3]),
   * before the delivery goes back to the core's backoff.
   */
  maxApiTriesPerStep: 3,

  /**
   * Waits between those in-attempt tries: `Retry-After` when V7 sent it and it is at most `maxInlineWaitMs`
   * (a longer one goes back to the core, which honours it), else 250 ms × 2^n with full jitter.
   */
  inlineBackoffBaseMs: 250,
  maxInlineWaitMs: 5_000,

  /** Uploads (sign → PUT → confirm) running at once in one forwarder invocation (option `upload_concurrency`). */
  defaultUploadConcurrency: 4,

  /**
   * A 404 on the per-upload routes (sign, confirm) names the missing thing in `errors.message` ("team not
   * found", "upload not found") [A: the simulator's shape; V7's text is not published]. A missing team stops
   * the destination (hold); a missing upload is that item's problem (REJECTED UPLOAD_NOT_FOUND). Register
   * routes carry the team, dataset and storage of the whole destination: every 404 there is a hold.
   */
  teamNotFound: /\bteam\b/i,

  /**
   * 422 errors are Phoenix-style field errors keyed by JSON path (`items[3].slots[0].tags`) next to
   * `code: "INVALID_REQUEST"` [A]. An error under `items[N]` is item N's own (REJECTED); the other items of the
   * call are registered again without it, at most `max422Rounds` times per attempt. Errors under no item
   * (`dataset_slug`, `storage_slug`: the destination's config) would fail every item the same way: a hold.
   */
  itemErrorKey: /^items\[(\d+)\]/,
  max422Rounds: 2,

  /**
   * A 422 with no `items[N]` key holds the destination only when a key names the destination's settings
   * (`dataset_slug`, `storage_slug`) [A]. Any other (`name`, `items`, a key nobody has seen) is about some item
   * of the call: the call is split in halves as after a 413, down to a single item, which is REJECTED with
   * V7's message, or present for NameTaken.
   */
  destinationErrorKey: /^(dataset_slug|storage_slug)\b/,

  /**
   * `{"errors":{"name":["has already been taken"]}}` is darwin-py's `NameTaken` [C V7-PY `client.py`]: the
   * item exists, as a blocked ALREADY_EXISTS does (present; REGISTER_ANSWER_LOST when an earlier register of
   * this delivery got no answer). Recorded with `reason` as the vendor code.
   */
  nameTaken: { key: 'name', message: /has already been taken/i, reason: 'NameTaken' },

  /**
   * After a 413 the register call is split in halves, down to single items (a single item that is still too
   * large is REJECTED PAYLOAD_TOO_LARGE). V7's body limit is not published [A].
   */
  splitOn413: true,

  /**
   * A presigned PUT is refused with 403 once it expired (S3 `AccessDenied` "Request has expired") or when its
   * signature does not match: both mean "sign again" [A, §2.3: URLs expire]. S3 refuses a single PUT over 5 GiB
   * [A: S3's limit]; the pre-flight rejects such files (FILE_TOO_LARGE) before anything is registered.
   */
  maxSinglePutBytes: 5 * 1024 ** 3,

  /**
   * Blocked-item reasons (inside a 200) and what they mean for the delivery. `ALREADY_EXISTS` (same name at the
   * same path) is the core's `present` outcome [C darwin-py: "skipped"]. `ITEM_COUNT_LIMIT_EXCEEDED` is the
   * team's quota, the same for every item: a hold. `UNEXPECTED_ERROR` is V7's own failure: retried [A]. Any
   * other reason (`UNKNOWN_TAGS`, `UNKNOWN_TAG`, `MISSING_TEXT_FOR_TAG`, `FILE_UPLOAD_FAILED`, …) is REJECTED
   * with the reason as the code.
   */
  presentReasons: ['ALREADY_EXISTS'] as readonly string[],
  holdReasons: ['ITEM_COUNT_LIMIT_EXCEEDED'] as readonly string[],
  retryReasons: ['UNEXPECTED_ERROR'] as readonly string[],

  /**
   * `register_upload` is not idempotent and V7 offers no lookup of an item's `upload_id` (§2.1 has none; an
   * ALREADY_EXISTS blocked item carries the item's id, not its upload_id [A, simulator]). When an earlier
   * register of this delivery got no usable answer (the relay checkpointed `registering` before sending it) and
   * V7 now answers ALREADY_EXISTS, the item is most likely the relay's own, without its bytes; the bytes cannot be
   * sent into it. That delivery is REJECTED `REGISTER_ANSWER_LOST` with what to do (delete the item in V7,
   * restream the object), never reported as delivered.
   */
  registerAnswerLostCode: 'REGISTER_ANSWER_LOST',

  /**
   * The slot `type` `register_existing` needs, from the key's extension, as darwin-py's
   * `get_external_file_type` [C]; other extensions cannot be registered from External Storage (darwin-py
   * raises). Standard upload sends no `type`: V7 infers it [C].
   */
  externalTypes: {
    image: ['png', 'jpeg', 'jpg', 'jfif', 'tif', 'tiff', 'qtiff', 'bmp', 'svs', 'webp'],
    pdf: ['pdf'],
    dicom: ['dcm'],
    video: ['avi', 'bpm', 'mov', 'mp4', 'mkv', 'hevc', 'nii', 'ndpi', 'rvg'],
  } as Readonly<Record<string, readonly string[]>>,

  /**
   * The destination's `video` options (`fps`, `as_frames`) go on slots of video files only, as darwin-py does
   * (`fps` "when the uploading file is a video") [C]; video = these extensions [A, common container formats].
   */
  videoExtensions: ['avi', 'mov', 'mp4', 'mkv', 'hevc', 'webm', 'm4v', 'mpg', 'mpeg'] as readonly string[],

  /**
   * V7 publishes no rate limit (§2.3): the plug-in sets no default bucket; a destination's `rate_limit` turns the
   * shared one on (every /api request draws a token; the presigned S3 PUT does not). 429s are retried honouring
   * Retry-After.
   */
  publishesRateLimit: false,

  /**
   * Read-only External Storage (`register_existing_readonly`) is not supported: V7 then needs, per slot,
   * `width`, `height` and a `storage_thumbnail_key` that already exists in the bucket, and for videos the HLS
   * segments, frames and sections V7 would otherwise make [D V7-TS, vendor doc S3; C darwin-py
   * `register_locally_processed` runs ffmpeg for them]. The relay would have to read every object and write
   * thumbnails (and transcode videos) into the factory's bucket, which it never writes. See config/README.md.
   */
  readonlyStorageSupported: false,
} as const;
