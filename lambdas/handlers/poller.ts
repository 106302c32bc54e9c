/**
 * Poller Lambda: runs every minute (EventBridge Scheduler) and follows up pending deliveries.
 */
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { type PollSummary, pollDue } from '#domain/poll.ts';
import { createVendorContext } from '#domain/vendor-context.ts';
import { vendorSide } from './vendor-runtime.ts';

export async function pollOnce(_event: unknown, context: Context): Promise<PollSummary> {
  const { rt, vendorRuntime } = vendorSide();
  const log = rt.log.child({ fn: 'poller' });
  const signal = AbortSignal.timeout(Math.max(1_000, context.getRemainingTimeInMillis() - 5_000));
  const summary = await pollDue(
    {
      config: rt.config,
      vendors: rt.vendors,
      log,
      context: (transmit, plugin, s) => createVendorContext(transmit, plugin, vendorRuntime, s),
      ports: {
        due: (dest, status, limit) => rt.table.due(dest, status, limit),
        applyCheck: (rec, update) => rt.table.applyCheck(rec, update),
      },
    },
    signal,
  );
  if (summary.checked > 0) log.info('poll run', { ...summary });
  return summary;
}

export const handler = middy().handler(pollOnce);
