/**
 * Forwarder Lambda: one per vendor (RELAY_VENDOR), fed by that vendor's queue. Vendor requests are aborted a
 * few seconds before the invocation's deadline (forward.ts derives the signal from the remaining time), so
 * outcomes are recorded before Lambda stops it; a delivery's lease covers the rest of the invocation.
 */
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { ClaimResult } from '#adapters/dynamodb.ts';
import { queueUrlFromArn } from '#adapters/sqs.ts';
import { ENV, optionalEnv, requireEnv } from '#commons/env.ts';
import { type Claim, type ForwarderDeps, forwardBatch } from '#domain/forward.ts';
import { createVendorContext } from '#domain/vendor-context.ts';
import { getVendor } from '#vendors/registry.ts';
import { refreshConfig, sendRaw } from './runtime.ts';
import { sourceMappedErrors } from './source-maps.ts';
import { vendorSide } from './vendor-runtime.ts';

/** The table's claim answer, as the forwarder core reads it. */
function toClaim(c: ClaimResult): Claim {
  switch (c.kind) {
    case 'claimed':
      return {
        kind: 'claimed',
        record: {
          attempts: c.record.attempts,
          ambiguousSends: c.record.ambiguousSends ?? 0,
          ...(c.record.checkpoint ? { checkpoint: c.record.checkpoint } : {}),
        },
      };
    case 'busy':
      return { kind: 'busy', leaseRemainingMs: c.leaseRemainingMs };
    case 'early':
      return { kind: 'early', dueInMs: c.dueInMs };
    case 'settled':
      return { kind: 'settled', status: c.record.status };
    default:
      return { kind: 'missing' };
  }
}

function deps(vendorId: string, queueUrl: string, deadLetterUrl: string | undefined): ForwarderDeps {
  const { rt, secrets, vendorRuntime } = vendorSide();
  const plugin = getVendor(vendorId);
  const dlq = deadLetterUrl ?? optionalEnv(ENV.deadLetterUrl);
  const t = rt.table;
  return {
    plugin,
    get config() {
      return rt.config;
    },
    owner: rt.instanceId,
    log: rt.log.child({ fn: 'forwarder', vendor: vendorId }),
    context: (transmit, signal, options) =>
      createVendorContext(transmit, plugin, vendorRuntime, signal, options),
    ports: {
      claim: async (key, owner, leaseMs) => toClaim(await t.claim(key, owner, leaseMs)),
      adopt: (msg, status, error) => t.adopt(msg, status, error),
      finish: (key, owner, destination, update) => t.finish(key, owner, destination, update),
      hold: (key, destination, reason) => t.hold(key, destination, reason),
      destinationState: (name) => t.destinationState(name),
      pauseDestination: (name, reason, probeAt) => t.pauseDestination(name, reason, probeAt),
      takeProbe: (name, nextProbeAt) => t.takeProbe(name, nextProbeAt),
      resumeDestination: async (name) => {
        await t.resumeDestination(name);
      },
      retryLater: (receiptHandle, delayMs) => rt.queues.retryLater(queueUrl, receiptHandle, delayMs),
      deadLetter: async (body, reason) => {
        if (!dlq) throw new Error(`${ENV.deadLetterUrl} is not set`);
        await sendRaw(rt.sqs, dlq, body, `${reason.code}: ${reason.message}`);
      },
      forgetApiKey: (name) => secrets.forget(name),
      contentDelivered: (destination, contentId) => t.contentDelivered(destination, contentId),
      rememberContent: (destination, contentId, pk) => t.rememberContent(destination, contentId, pk),
    },
  };
}

/**
 * A forwarder handler for one vendor. On AWS the vendor and its DLQ come from the environment; the local
 * stack runs every vendor's forwarder in one process and passes them here.
 */
export function createForwarderHandler(vendorId: string, options: { deadLetterUrl?: string } = {}) {
  let d: ForwarderDeps | undefined;
  return middy<SQSEvent, SQSBatchResponse>()
    .use(sourceMappedErrors())
    .handler(async (event: SQSEvent, context: Context) => {
      const first = event.Records[0];
      if (!first) return { batchItemFailures: [] };
      await refreshConfig(vendorSide().rt);
      // One queue feeds this handler: its deps are built on the first batch and kept.
      d ??= deps(
        vendorId,
        queueUrlFromArn(first.eventSourceARN, process.env.AWS_ENDPOINT_URL_SQS),
        options.deadLetterUrl,
      );
      const result = await forwardBatch(
        event.Records.map((r) => ({
          messageId: r.messageId,
          receiptHandle: r.receiptHandle,
          body: r.body,
          receiveCount: Number(r.attributes.ApproximateReceiveCount ?? '1'),
        })),
        d,
        { remainingMs: () => context.getRemainingTimeInMillis() },
      );
      return { batchItemFailures: result.failures.map((id) => ({ itemIdentifier: id })) };
    });
}

let bound: ReturnType<typeof createForwarderHandler> | undefined;

export const handler = (event: SQSEvent, context: Context) => {
  bound ??= createForwarderHandler(requireEnv(ENV.vendor));
  return bound(event, context);
};
