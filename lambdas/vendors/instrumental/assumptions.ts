/**
 * Every Instrumental detail the relay relies on that the vendor does not document ([A] in
 * ../shared/vendor-contracts.md §3.3). One place, so that a correction from the vendor is a one-line change.
 */
export const INSTRUMENTAL_ASSUMPTIONS = {
  /** fileStatus takes repeated `ids`; no batch limit is documented. URL length is the real bound. */
  maxStatusIdsPerRequest: 100,
  /** "all ingest API endpoints" share the bucket: we count fileStatus calls against it too. */
  statusCallsUseRateLimit: true,
  /** How long after acceptance the first fileStatus check is made ("typically up to 60 seconds"). */
  firstCheckAfterMs: 5_000,
  /** Polling gives up after this long in PENDING_VALIDATION and records the delivery FAILED. */
  pendingDeadlineMs: 24 * 60 * 60_000,
} as const;
