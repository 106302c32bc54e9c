/**
 * The relay's function and queue settings, as plain numbers: ONE source for the deployed stack (lib/defaults.ts
 * wraps them for CDK) and the local stack (local/stack.ts), so that what runs locally is what runs on AWS.
 * No CDK import here: the local stack reads this file without loading aws-cdk-lib.
 */
import type { VendorPlugin } from '../lambdas/vendors/types.ts';

export const SETTINGS = {
  router: { timeoutSeconds: 30, memoryMb: 256, batchSize: 10, batchingWindowSeconds: 5, maxConcurrency: 10 },
  forwarder: {
    timeoutSeconds: 120,
    memoryMb: 512,
    batchSize: 10,
    batchingWindowSeconds: 0,
    maxConcurrency: 5,
  },
  poller: { timeoutSeconds: 60, memoryMb: 256 },
  callback: { timeoutSeconds: 10, memoryMb: 256 },
  /**
   * The stream aggregator: up to 1000 records per invocation, gathered for up to 5 s (so a busy table costs a few
   * counter writes per 5 s, and /v1/status trails the table by about that much); a failing batch is halved and
   * retried 10 times, then described on the aggregator's on-failure queue.
   */
  aggregator: {
    timeoutSeconds: 60,
    memoryMb: 256,
    batchSize: 1000,
    batchingWindowSeconds: 5,
    retryAttempts: 10,
  },
  /** EventBridge Scheduler's minimum, rate(1 minute). */
  pollEverySeconds: 60,
  /** Receives of an ingest notification before it goes to the ingest DLQ. */
  ingestMaxReceiveCount: 5,
  /** Visibility timeout ≥ this × the function timeout (+ the batching window): AWS's guidance for Lambda ← SQS. */
  visibilityTimeoutFactor: 6,
  /** Default `relay.max_attempts`. */
  defaultMaxAttempts: 8,
  /**
   * Receives of a delivery message that send nothing and so count no attempt: a lease still held by another
   * invocation, a duplicate message before its backoff ended, no rate-limit token before the deadline, a
   * transient failure to read the secret, a Lambda timeout or throttle. Held deliveries (a paused, stopped or
   * disabled destination) wait in the status table, not in the queue, so no pause of any length uses these.
   */
  dlqReceiveHeadroom: 20,
} as const;

export type ForwarderSettings = {
  timeoutSeconds: number;
  memoryMb: number;
  batchSize: number;
  batchingWindowSeconds: number;
  maxConcurrency: number;
  writesResults: boolean;
};

/** A vendor's forwarder settings: the defaults, then what its plug-in declares (lambdas/vendors/types.ts). */
export function forwarderSettings(plugin: Pick<VendorPlugin, 'infra'> | undefined): ForwarderSettings {
  const infra = plugin?.infra ?? {};
  return {
    timeoutSeconds: infra.timeoutSeconds ?? SETTINGS.forwarder.timeoutSeconds,
    memoryMb: infra.memoryMb ?? SETTINGS.forwarder.memoryMb,
    batchSize: infra.batchSize ?? SETTINGS.forwarder.batchSize,
    batchingWindowSeconds: infra.batchingWindowSeconds ?? SETTINGS.forwarder.batchingWindowSeconds,
    maxConcurrency: infra.maxConcurrency ?? SETTINGS.forwarder.maxConcurrency,
    writesResults: infra.writesResults ?? false,
  };
}

/** Receives of a delivery message before SQS moves it to the vendor's DLQ: attempts + headroom (see above). */
export function vendorMaxReceiveCount(maxAttempts: number | undefined): number {
  return (maxAttempts ?? SETTINGS.defaultMaxAttempts) + SETTINGS.dlqReceiveHeadroom;
}

/** Visibility timeout in seconds for a queue whose consumer has this timeout and batching window. */
export function visibilityTimeoutSeconds(timeoutSeconds: number, batchingWindowSeconds = 0): number {
  return SETTINGS.visibilityTimeoutFactor * timeoutSeconds + batchingWindowSeconds;
}
