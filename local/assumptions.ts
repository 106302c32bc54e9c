/**
 * Every choice in the local stack that is an assumption about AWS behaviour rather than a documented or
 * observed fact, in one place so it is easy to change. Each says what backs it.
 */

/**
 * `eventVersion` of ObjectCreated records. [D] the S3 User Guide's PUT example and LocalStack's snapshots
 * recorded against AWS (2025) say 2.1; [A] later doc revisions show a unified 2.5 template for all event types.
 */
export const S3_EVENT_VERSION = '2.1';

/**
 * Characters S3 leaves unencoded in event keys. [D] space → `+` (S3 docs), `@` → %40 and `/` kept (LocalStack
 * AWS-validated snapshots), `:` → %3A (aws-sdk-js #837), `=` → %3D (aws-sam-cli #379). [A] the rest follow Java's
 * URLEncoder (letters, digits, `. - _ *` kept; `~ ! ' ( )` encoded), upper-case hex.
 */
export const S3_EVENT_KEY_UNENCODED = /^[A-Za-z0-9.\-_*/]$/;

/** [A] Principal ids in local events (AWS puts the caller's IAM id and the owner's canonical-ish id). */
export const LOCAL_PRINCIPAL_ID = 'AWS:AIDALOCALSTACKEXAMPLE';
export const LOCAL_BUCKET_OWNER_ID = 'A1LOCALSTACKOWNEREXAMPLE';

/** [A] Sequencer length (the docs' example has 18 hex digits; AWS says lengths may differ). */
export const SEQUENCER_DIGITS = 18;

/**
 * [A] HTTP API answer when the integration times out (30 s): 503 `{"message":"Service Unavailable"}` (REST APIs
 * answer 504; HTTP APIs are reported to answer 503).
 */
export const HTTP_API_TIMEOUT_STATUS = 503;
export const HTTP_API_TIMEOUT_MESSAGE = 'Service Unavailable';

/**
 * [A] Which request bodies an HTTP API passes as text (isBase64Encoded false): text/*, JSON, XML, JavaScript.
 * Anything else — form posts, multipart, octet-stream, and a body without a content-type — is base64-encoded.
 */
export function isTextContentType(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const t = contentType.split(';')[0]!.trim().toLowerCase();
  return (
    t.startsWith('text/') ||
    t === 'application/json' ||
    t.endsWith('+json') ||
    t === 'application/xml' ||
    t.endsWith('+xml') ||
    t === 'application/javascript'
  );
}

/**
 * [A] The event of a schedule without Input: EventBridge's "Scheduled Event" shape with `source: aws.scheduler`
 * and the schedule's ARN in `resources`. A real schedule passes its configured Input verbatim; set `input` on
 * addSchedule to match the CDK schedule's.
 */
export const SCHEDULE_EVENT_SOURCE = 'aws.scheduler';

/** [A] A schedule tick is skipped while the previous invocation of that schedule still runs (AWS would overlap). */
export const SCHEDULE_SKIPS_OVERLAP = true;
