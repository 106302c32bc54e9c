/**
 * Every Instrumental detail the relay relies on that the vendor does not document ([A] in
 * ../shared/vendor-contracts.md §3.3). One place, so that a correction from the vendor is a one-line change.
 */
export const INSTRUMENTAL_ASSUMPTIONS = {
  /** fileStatus takes repeated `ids`; no batch limit is documented. URL length is the real bound. */
  maxStatusIdsPerRequest: 100,
  /** "all ingest API endpoints" share the bucket: we count fileStatus calls against it too. */
  statusCallsUseRateLimit: true,
  /**
   * The documented bucket is 50 burst, 5 per second per key [D]. Ours runs at the same rate with 5 tokens of
   * headroom: our bucket and Instrumental's start at different instants and see network jitter, so an exact
   * copy would trip an occasional 429. 5 tokens absorb up to one second of jitter.
   */
  rateLimit: { burst: 45, perSecond: 5 },
  /** How long after acceptance the first fileStatus check is made ("typically up to 60 seconds"). */
  firstCheckAfterMs: 5_000,
  /**
   * Polling gives up after this long without a final status (still PENDING_VALIDATION, or status checks that
   * keep failing) and records the delivery FAILED.
   */
  pendingDeadlineMs: 24 * 60 * 60_000,
  /**
   * "If the file's name does not end in .jpg, .jpeg, .mp4, or .webm, it will be rejected synchronously" [D]
   * does not say whether `IMG.JPG` ends in .jpg. The pre-flight takes any case; the multipart filename is
   * sent with its extension lower-cased, which passes under either reading.
   */
  lowerCaseExtension: true,
} as const;
