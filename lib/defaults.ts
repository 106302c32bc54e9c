/**
 * Secure defaults, in one place (the aws-solutions-constructs way): every bucket, queue, function, log group
 * and API stage of the relay takes its security-relevant settings from here, so a reviewer reads one file.
 * Constructs in lib/constructs/ apply these; they never pick their own encryption, retention or limits.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Architecture, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { BlockPublicAccess, BucketEncryption, type BucketProps, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { QueueEncryption, type QueueProps } from 'aws-cdk-lib/aws-sqs';

/**
 * CDK feature flags the stack relies on. The stack sets each one on itself unless the app's context
 * (cdk.json, `-c`) already decides it, so `cdk synth` and the unit tests build the same template.
 */
export const FEATURE_FLAGS: Readonly<Record<string, boolean>> = {
  // Server access logs are delivered through a bucket policy for logging.s3.amazonaws.com, not an ACL.
  '@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy': true,
  // Attaching to an existing ingest bucket keeps that bucket's other notifications.
  '@aws-cdk/aws-s3:keepNotificationInImportedBucket': true,
  // Grants never add s3:PutObjectAcl.
  '@aws-cdk/aws-s3:grantWriteWithoutAcl': true,
  // One merged statement per action set instead of one per grant.
  '@aws-cdk/aws-iam:minimizePolicies': true,
};

// ---------------------------------------------------------------------------------------------------------------
// S3

/** Defaults of every bucket the relay creates: encrypted, private, TLS only, versioned, kept on stack delete. */
export function bucketDefaults(): BucketProps {
  return {
    encryption: BucketEncryption.S3_MANAGED,
    blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
    enforceSSL: true,
    minimumTLSVersion: 1.2,
    versioned: true,
    objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
    removalPolicy: RemovalPolicy.RETAIN,
    autoDeleteObjects: false,
  };
}

/** Noncurrent versions of factory files and results are kept this long, then expire. */
export const NONCURRENT_VERSION_EXPIRATION = Duration.days(90);
/** Server access logs are kept this long. */
export const ACCESS_LOG_EXPIRATION = Duration.days(365);

// ---------------------------------------------------------------------------------------------------------------
// SQS

/** Defaults of every queue: SQS-managed encryption (S3 event notifications can publish to it without a key
 * policy), TLS only, 14 days of retention so nothing is lost over a long outage. */
export function queueDefaults(): QueueProps {
  return {
    encryption: QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
  };
}

/**
 * Visibility timeout ≥ 6 × the function timeout plus the batching window (AWS's guidance for Lambda ← SQS;
 * CloudFormation refuses a function timeout longer than the queue's visibility timeout).
 */
export const VISIBILITY_TIMEOUT_FACTOR = 6;

export function visibilityTimeoutFor(functionTimeout: Duration, maxBatchingWindow?: Duration): Duration {
  const seconds =
    VISIBILITY_TIMEOUT_FACTOR * functionTimeout.toSeconds() + (maxBatchingWindow?.toSeconds() ?? 0);
  return Duration.seconds(seconds);
}

/** Receives of an ingest notification before it goes to the ingest DLQ. */
export const INGEST_MAX_RECEIVE_COUNT = 5;

/** Default `relay.max_attempts` (lambdas/domain/config/types.ts). */
export const DEFAULT_MAX_ATTEMPTS = 8;

/**
 * Receives of a delivery message beyond `relay.max_attempts` before SQS moves it to the vendor's DLQ.
 *
 * The forwarder counts vendor sends itself: when the attempts run out it records the delivery DEAD and moves
 * the message to the DLQ (RELAY_DEAD_LETTER_URL). The redrive is only the backstop for messages the handler
 * cannot account for. But SQS counts every receive, also those that send nothing, and without headroom those
 * would push a message to the DLQ before its last real attempt:
 * - a Lambda timeout, crash or throttle mid-batch, a lease held by another invocation (DLQ_RECEIVE_HEADROOM);
 * - a destination paused after a refused key (401) or stopped by the operator: the forwarder puts its messages
 *   back every PAUSED_HOLD_INTERVAL without counting an attempt (lambdas/domain/forward.ts), so the redrive
 *   tolerates a pause of PAUSE_TOLERANCE. A longer pause moves held messages to the DLQ (the alarm fires).
 */
export const DLQ_RECEIVE_HEADROOM = 4;
export const PAUSED_HOLD_INTERVAL = Duration.minutes(5);
export const PAUSE_TOLERANCE = Duration.hours(12);

export function vendorMaxReceiveCount(maxAttempts: number | undefined): number {
  const pauseReceives = Math.ceil(PAUSE_TOLERANCE.toSeconds() / PAUSED_HOLD_INTERVAL.toSeconds());
  return (maxAttempts ?? DEFAULT_MAX_ATTEMPTS) + DLQ_RECEIVE_HEADROOM + pauseReceives;
}

// ---------------------------------------------------------------------------------------------------------------
// Lambda

export const RUNTIME = Runtime.NODEJS_22_X;
export const ARCHITECTURE = Architecture.ARM_64;
export const TRACING = Tracing.ACTIVE;
export const LOG_RETENTION = RetentionDays.ONE_MONTH;

/** Per-function sizing. The forwarder streams files of up to 50 MB to vendors, hence more memory and time. */
export const FUNCTION_SIZING = {
  router: { timeout: Duration.seconds(30), memorySize: 256 },
  forwarder: { timeout: Duration.seconds(120), memorySize: 512 },
  poller: { timeout: Duration.seconds(60), memorySize: 256 },
  callback: { timeout: Duration.seconds(10), memorySize: 256 },
} as const;

/** Event source mapping of the router on the ingest queue. */
export const ROUTER_EVENT_SOURCE = {
  batchSize: 10,
  maxBatchingWindow: Duration.seconds(5),
  maxConcurrency: 10,
} as const;

/** Event source mapping of a forwarder on its vendor queue (maxConcurrency may be overridden per vendor). */
export const FORWARDER_EVENT_SOURCE = {
  /** The forwarder works a batch with bounded concurrency and groups jobs up to the plug-in's `maxBatch`. */
  batchSize: 10,
  maxConcurrency: 5,
} as const;

/** Lambda's limits on an SQS event source's maximum concurrency. */
export const MAX_CONCURRENCY_RANGE = { min: 2, max: 1000 } as const;

/** esbuild target of every bundle. */
export const BUNDLE_TARGET = 'node22';

/**
 * The bundles are ESM; dependencies that are still CommonJS call `require` for Node built-ins, which ESM lacks.
 * This shim gives them one.
 */
export const ESM_REQUIRE_SHIM =
  "import { createRequire as __relayCreateRequire } from 'node:module'; const require = __relayCreateRequire(import.meta.url);";

export { OutputFormat };

// ---------------------------------------------------------------------------------------------------------------
// HTTP API

/** Stage-wide throttling of the HTTP API (vendor callbacks are a few per delivery). */
export const API_THROTTLE = { rateLimit: 50, burstLimit: 100 } as const;

/**
 * Access log line of the HTTP API. It names the route *template* (`routeKey`), never `$context.path`: the
 * callback path carries a per-delivery token that must not land in logs.
 */
export const API_ACCESS_LOG_FORMAT: Readonly<Record<string, string>> = {
  requestId: '$context.requestId',
  requestTime: '$context.requestTime',
  ip: '$context.identity.sourceIp',
  userAgent: '$context.identity.userAgent',
  routeKey: '$context.routeKey',
  status: '$context.status',
  protocol: '$context.protocol',
  responseLength: '$context.responseLength',
  latencyMs: '$context.responseLatency',
  integrationLatencyMs: '$context.integrationLatency',
  integrationError: '$context.integrationErrorMessage',
};

// ---------------------------------------------------------------------------------------------------------------
// Scheduler and alarms

/** EventBridge Scheduler's minimum rate, with 60-second precision. */
export const POLL_RATE = Duration.minutes(1);
