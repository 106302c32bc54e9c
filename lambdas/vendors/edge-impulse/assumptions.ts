/**
 * Every Edge Impulse detail the relay relies on that the vendor does not document ([A] in
 * ../shared/vendor-contracts.md §1.5, and the relay's own readings of [C] client code). One place, so that a
 * correction from the vendor is a one-line change. Each is tested in edge-impulse.test.ts.
 */
export const EDGE_IMPULSE_ASSUMPTIONS = {
  /**
   * §1.1 "The maximum size of a single file is 100 MB" [D], read in decimal units: 100,000,000 bytes pass, one
   * more is refused before sending. The CLI checks 100 MiB [C]; the simulator follows the doc at its strictest
   * (simulators/edge-impulse/README.md), and a file within the decimal limit is within either.
   */
  maxFileBytes: 100_000_000,

  /**
   * §1.5: the per-file error of a duplicate starts with this text [C] (community code, the Python SDK's
   * docstring); what follows (`(ids: 1, 2)`) is assumed, and only read for the existing sample's id.
   */
  duplicatePrefix: 'An item with this hash already exists',
  /** `(ids: 123, 456)` after the duplicate message: the first id is the sample that holds this content. */
  duplicateIds: /\(ids:\s*(\d+)/,

  /**
   * §1.1: API keys start with `ei_` [C] (the uploader refuses any other before calling the API). Real keys are
   * `ei_` + 64 hex digits, but that is not documented, so only the prefix is checked.
   */
  keyPrefix: 'ei_',

  /**
   * The slowest rate at which a request's body is assumed to reach Edge Impulse from a Lambda in any region
   * (32 Mbit/s), plus a fixed allowance per request and per file for the service to store and answer. A
   * request's time budget is these applied to its bytes and files; see `maxRequestBytes`.
   */
  minUploadBytesPerSecond: 4_000_000,
  requestOverheadMs: 5_000,
  perFileMs: 15,

  /**
   * Most bytes in one request (sum of the samples): with 1000 files (§1.1 [D]) its budget is
   * 5 s + 1000 × 15 ms + 200 MB / 4 MB/s = 70 s, under a quarter of the forwarder's 300 s timeout, so a request
   * finishes well inside the invocation even at the assumed slowest rate. One file of 100 MB fits with room.
   */
  maxRequestBytes: 200_000_000,

  /**
   * §1.5: a request-level 400 (or 413, or a 200 with `success:false`) stores nothing, so the batch is split in
   * two and each half sent again until the files that cause it are found alone (then REJECTED with the
   * vendor's message). A 400 that every half gets (a header problem) costs 2n − 1 requests for n files.
   */
  requestFailureStoresNothing: true,

  /**
   * 404 on `/api/{category}/files`: the base URL or the category is wrong for this destination (a proxy path,
   * `validation` not enabled). Nothing in the batch can be sent, so the destination is held (no attempts spent)
   * until the config is fixed, as for a refused key. Undocumented.
   */
  notFoundHolds: true,

  /**
   * §1.1 [C]: `files[]` has one entry per sample; that the i-th entry answers the i-th sample part is assumed
   * (the CLI and the Python SDK send one sample per request and never rely on it). Each entry's `fileName`
   * (failed entries have none) is checked against the name sent at its place; when they disagree the
   * entries are matched by name if every entry names exactly one file sent, else the request's files are an
   * ambiguous retry: never a result given to another file.
   */
  resultsInPartOrder: true,

  /**
   * §1.1 `x-add-date-id: 1` "adds a unique ID to the end" of the file name [D]: where is not said. A stored
   * name answers for the name sent with one dot-separated segment more, before the extension
   * (`test.2ccv5m2f.wav`, the simulator's and Studio's shape) or after it (`test.wav.2ccv5m2f`).
   */
  dateIdPlaces: ['before-extension', 'end'] as const,

  /**
   * `x-metadata` and `x-label` travel in headers; servers refuse very large header sections (Node's default is
   * 16 KiB in all). The relay refuses a file whose label + metadata would be over this before sending.
   */
  maxHeaderBytes: 8 * 1024,

  /**
   * Files opened from S3 ahead of the one being sent (each open is a round trip), while the bytes before them
   * are at most this many: see lambdas/commons/multipart.ts `OpenAhead`.
   */
  openAhead: { parts: 8, bytes: 8 * 1024 * 1024 },
} as const;
