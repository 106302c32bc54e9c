/**
 * Secure defaults, in one place (the aws-solutions-constructs way): every bucket, queue, function, log group
 * and API stage of the relay takes its security-relevant settings from here, so a reviewer reads one file.
 * Constructs in lib/constructs/ apply these; they never pick their own encryption, retention or limits.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { BillingMode, TableEncryption, type TableProps } from 'aws-cdk-lib/aws-dynamodb';
import { Architecture, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { BlockPublicAccess, BucketEncryption, type BucketProps, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { QueueEncryption, type QueueProps } from 'aws-cdk-lib/aws-sqs';
import { SETTINGS, vendorMaxReceiveCount, visibilityTimeoutSeconds } from './settings.ts';

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
// DynamoDB

/**
 * Defaults of the status table, which holds every delivery's record: on-demand, encrypted, point-in-time
 * recovery, kept on stack delete, and deletion protection (a DeleteTable, from the console or a script, is
 * refused until it is turned off).
 */
export function tableDefaults(): Pick<
  TableProps,
  'billingMode' | 'encryption' | 'pointInTimeRecoverySpecification' | 'removalPolicy' | 'deletionProtection'
> {
  return {
    billingMode: BillingMode.PAY_PER_REQUEST,
    encryption: TableEncryption.AWS_MANAGED,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    removalPolicy: RemovalPolicy.RETAIN,
    deletionProtection: true,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// SQS

/**
 * Defaults of every queue: SQS-managed encryption (S3 event notifications can publish to it without a key
 * policy), TLS only, 14 days of retention so nothing is lost over a long outage, and kept on stack delete
 * (like the buckets and the table), with what is in it:
 * - a dead-letter queue holds dead deliveries and poison notifications that ops can still redrive (`relay dlq
 *   redrive`); deleting it with the last destination of a vendor, or with `cdk destroy`, would lose them;
 * - a vendor queue or the ingest queue is retained too: its messages are not all recoverable from the status
 *   table (an ingest notification not yet routed has no record at all; the poller re-queues RECEIVED and
 *   overdue RETRYING deliveries, but only of destinations still in the config). An idle queue costs nothing;
 *   lib/README.md says how to drain and delete the ones left behind.
 */
export function queueDefaults(): QueueProps {
  return {
    encryption: QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
    removalPolicy: RemovalPolicy.RETAIN,
  };
}

/**
 * Visibility timeout ≥ 6 × the function timeout plus the batching window (AWS's guidance for Lambda ← SQS;
 * CloudFormation refuses a function timeout longer than the queue's visibility timeout).
 */
export const VISIBILITY_TIMEOUT_FACTOR = SETTINGS.visibilityTimeoutFactor;

export function visibilityTimeoutFor(functionTimeout: Duration, maxBatchingWindow?: Duration): Duration {
  return Duration.seconds(
    visibilityTimeoutSeconds(functionTimeout.toSeconds(), maxBatchingWindow?.toSeconds() ?? 0),
  );
}

/** Receives of an ingest notification before it goes to the ingest DLQ. */
export const INGEST_MAX_RECEIVE_COUNT = SETTINGS.ingestMaxReceiveCount;

/** Default `relay.max_attempts` (lambdas/domain/config/types.ts). */
export const DEFAULT_MAX_ATTEMPTS = SETTINGS.defaultMaxAttempts;

/** Receives of a delivery message beyond `relay.max_attempts` before SQS moves it to the vendor's DLQ. */
export { vendorMaxReceiveCount };

// ---------------------------------------------------------------------------------------------------------------
// Lambda

export const RUNTIME = Runtime.NODEJS_22_X;
export const ARCHITECTURE = Architecture.ARM_64;
export const TRACING = Tracing.ACTIVE;
export const LOG_RETENTION = RetentionDays.ONE_MONTH;

/** Per-function sizing (lib/settings.ts). The forwarder streams files of up to 100 MB, hence more memory. */
export const FUNCTION_SIZING = {
  router: { timeout: Duration.seconds(SETTINGS.router.timeoutSeconds), memorySize: SETTINGS.router.memoryMb },
  forwarder: {
    timeout: Duration.seconds(SETTINGS.forwarder.timeoutSeconds),
    memorySize: SETTINGS.forwarder.memoryMb,
  },
  poller: { timeout: Duration.seconds(SETTINGS.poller.timeoutSeconds), memorySize: SETTINGS.poller.memoryMb },
  aggregator: {
    timeout: Duration.seconds(SETTINGS.aggregator.timeoutSeconds),
    memorySize: SETTINGS.aggregator.memoryMb,
  },
  callback: {
    timeout: Duration.seconds(SETTINGS.callback.timeoutSeconds),
    memorySize: SETTINGS.callback.memoryMb,
  },
  // The ops API: answers within API Gateway's 30 s integration timeout (a redrive works at most 20 s per call).
  ops: { timeout: Duration.seconds(29), memorySize: 512 },
} as const;

/** Event source mapping of the router on the ingest queue. */
export const ROUTER_EVENT_SOURCE = {
  batchSize: SETTINGS.router.batchSize,
  maxBatchingWindow: Duration.seconds(SETTINGS.router.batchingWindowSeconds),
  maxConcurrency: SETTINGS.router.maxConcurrency,
} as const;

/** Event source mapping of a forwarder on its vendor queue (per vendor: lib/settings.ts forwarderSettings). */
export const FORWARDER_EVENT_SOURCE = {
  batchSize: SETTINGS.forwarder.batchSize,
  maxConcurrency: SETTINGS.forwarder.maxConcurrency,
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
export const POLL_RATE = Duration.seconds(SETTINGS.pollEverySeconds);
