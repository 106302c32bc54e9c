/**
 * Every InstaVid360 detail the relay relies on that the vendor does not document ([A] in
 * ../shared/vendor-contracts.md §4.2, or our own reading where the doc is silent). One place, so that a
 * correction from the vendor is a one-line change. [D] marks what the vendor doc does say, for contrast.
 */
export const INSTAVID360_ASSUMPTIONS = {
  /**
   * [D] "Maximum upload size: 2MB". [A] read as 2,000,000 bytes, the smaller of the two readings (2 MiB would
   * be 2,097,152): no public source says which, and refusing 97 KB too early costs less than a vendor 422.
   */
  maxUploadBytes: 2_000_000,
  /**
   * [D] each call's "Endpoint:" line: the upload `POST: /api/v1/image/upload/{{image_type}}` (its example
   * request says `/api/image/upload/original`); the tasks `POST: /api/image/task/bg-replace|lpa` and the
   * status `POST: /api/image/task/{{task}}`, endpoint and example alike: `/api/v1` is never shown for a task.
   * So each call defaults to its own Endpoint line. [A] `options.api_path` (either prefix) applies to every
   * call: if uploads under /api/v1 answer 404, `/api` is the one prefix the doc shows for all three.
   */
  apiPaths: ['/api/v1', '/api'] as const,
  defaultApiPaths: { upload: '/api/v1', task: '/api', status: '/api' },
  /**
   * [A] a 404 or 405 on an upload or a task creation means the base URL or api_path is wrong (the routes are
   * fixed, every key travels in the body): the destination is held until the config is fixed, rather than
   * each delivery REJECTED. (On the status call a 404 is an unknown task.)
   */
  notFoundHolds: true,
  /**
   * [D] the envelope's `success`: "True on success. False on Failure", reasons in `data.messages`. [A] a 2xx
   * with `success: false` is read as a refusal of the request (as a 422 is), or the quota when its messages
   * mention one.
   */
  successFalseIsFailure: true,
  /** [A] §4.2 statuses `new` → `processing` → `complete` | `failed`, with these aliases accepted. */
  completeStatuses: ['complete', 'completed', 'done', 'success'] as const,
  failedStatuses: ['failed', 'error'] as const,
  /**
   * [A] per-minute request limit: "there is a per-minute rate limit" with no number (IV-DOC); the simulator
   * assumes 60 per user. GCRA lets at most burst + 60 × perSecond requests into any 60 s: 12 + 45 = 57,
   * three under 60, so the relay's bucket and the vendor's window never disagree. Uploads, task creation and
   * status queries all count; result downloads (presigned URLs, no token) do not. The burst lets a few
   * photos (and a few callbacks' re-checks) through at once.
   */
  rateLimit: { burst: 12, perSecond: 0.75 },
  /**
   * Share of that limit a callback's re-check may use (the rest is forwarding's and polling's), so a flood of
   * callbacks, forged or not, never slows deliveries.
   */
  callbackRateShare: 0.25,
  /** [A] 429 with a Retry-After longer than this is the monthly quota, not the per-minute limit. */
  perMinuteRetryAfterMaxMs: 120_000,
  /** [A] a 429/403 whose message or reasons mention a quota is the monthly quota (§4.2: 429 or 403). */
  quotaMessage: /quota/i,
  /** [A] the 422 reason for a reference that was used before (§4.2: references are unique per user). */
  duplicateReference: /reference has already been taken|reference.*(already|taken|exists|unique|duplicate)/i,
  /** [A] the 422 reason for an imagekey the vendor no longer knows (`The selected background is invalid.`). */
  unknownImageKey: (field: 'original' | 'background' | 'overlay') =>
    new RegExp(`selected ${field} is (invalid|a \\w+ image)`, 'i'),
  /** [A] a reference longer than this is refused (a Laravel `max:255` string); longer ids are hashed. */
  maxReferenceLength: 255,
  /** [A] `result` carries the processed image's URL (`{url}`); the first http(s) string in it is taken. */
  resultUrlField: 'url',
  /** How long one check holds the claim to bring a result home (a holder that died lets go after this). */
  resultClaimMs: 5 * 60_000,
  /** A result larger than this is refused (results follow the ≤ 2 MB original; 25 MB is generous). */
  maxResultBytes: 25 * 1024 * 1024,
  /**
   * [A] A result URL may redirect (a CDN in front of the storage): at most this many http(s) redirects are
   * followed. Safe because no credential goes with a result download (presigned URLs, §4.2).
   */
  maxResultRedirects: 3,
  /** First status check after a task was created (tasks take seconds; the doc gives no figure). */
  firstCheckAfterMs: 5_000,
  /** Default deadline: a task still not final this long after its creation is FAILED (TASK_TIMEOUT). */
  defaultTaskDeadlineMinutes: 60,
  /**
   * With callbacks on, the poller leaves a task this long to its callback before asking (polling is the
   * fallback for lost callbacks; §4.2: callbacks are sent once, without retries).
   */
  defaultCallbackGraceSeconds: 60,
  /** Default probe interval of a destination whose monthly quota ran out (sooner when Retry-After says so). */
  defaultQuotaProbeSeconds: 900,
  /** Status queries per poll call (one POST per task: the API has no batch status). */
  statusBatch: 25,
} as const;

export type TaskState = 'pending' | 'complete' | 'failed';

/**
 * A vendor status string → what it means to the relay. [A] §4.2: any other string (the documented `new`, the
 * assumed `processing`, ones nobody has seen yet) is not final.
 */
export function taskState(status: unknown): TaskState {
  const s = typeof status === 'string' ? status.trim().toLowerCase() : '';
  if ((INSTAVID360_ASSUMPTIONS.completeStatuses as readonly string[]).includes(s)) return 'complete';
  if ((INSTAVID360_ASSUMPTIONS.failedStatuses as readonly string[]).includes(s)) return 'failed';
  return 'pending';
}
