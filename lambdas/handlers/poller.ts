/**
 * Poller Lambda: runs every minute (EventBridge Scheduler). Follows up pending deliveries, probes paused
 * destinations, queues held deliveries again once their destination runs, and sweeps stranded ones.
 */
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { ENV, optionalEnv } from '#commons/env.ts';
import { type PollSummary, pollDue } from '#domain/poll.ts';
import { createVendorContext } from '#domain/vendor-context.ts';
import { refreshConfig } from './runtime.ts';
import { sourceMappedErrors } from './source-maps.ts';
import { vendorSide } from './vendor-runtime.ts';

let queueUrls: Record<string, string> | undefined;

export async function pollOnce(_event: unknown, context: Context): Promise<PollSummary> {
  const { rt, vendorRuntime } = vendorSide();
  await refreshConfig(rt);
  const log = rt.log.child({ fn: 'poller' });
  queueUrls ??= JSON.parse(optionalEnv(ENV.queueUrls) ?? '{}') as Record<string, string>;
  const signal = AbortSignal.timeout(Math.max(1_000, context.getRemainingTimeInMillis() - 5_000));
  const t = rt.table;
  const summary = await pollDue(
    {
      config: rt.config,
      vendors: rt.vendors,
      log,
      queueUrls,
      context: (transmit, plugin, s) =>
        createVendorContext(transmit, plugin, vendorRuntime, s, { purpose: 'poll' }),
      ports: {
        due: (dest, status, limit, before) => t.due(dest, status, limit, before),
        applyCheck: (rec, update) => t.applyCheck(rec, update),
        destinationState: (name) => t.destinationState(name),
        pauseDestination: (name, reason, probeAt) => t.pauseDestination(name, reason, probeAt),
        takeProbe: (name, next) => t.takeProbe(name, next),
        markRequeued: (rec) => t.markRequeued(rec),
        deferCheck: (rec, next) => t.deferCheck(rec, next),
        send: (url, messages) => rt.queues.sendAll(url, messages),
      },
    },
    signal,
  );
  if (summary.checked > 0 || summary.released || summary.probes || summary.swept)
    log.info('poll run', { ...summary });
  return summary;
}

export const handler = middy().use(sourceMappedErrors()).handler(pollOnce);
