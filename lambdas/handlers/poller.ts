/**
 * Poller Lambda: runs every minute (EventBridge Scheduler). Follows up pending deliveries, probes paused
 * destinations, queues held deliveries again once their destination runs, and sweeps stranded ones.
 */
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { ENV, optionalEnv } from '#commons/env.ts';
import { METRIC, MetricUnit, RelayMetrics } from '#commons/metrics.ts';
import { type PollSummary, pollDue } from '#domain/poll.ts';
import { createVendorContext } from '#domain/vendor-context.ts';
import { refreshConfig } from './runtime.ts';
import { sourceMappedErrors } from './source-maps.ts';
import { vendorSide } from './vendor-runtime.ts';

let queueUrls: Record<string, string> | undefined;
const metrics = new RelayMetrics();

export async function pollOnce(_event: unknown, context: Context): Promise<PollSummary> {
  const { rt, vendorRuntime } = vendorSide();
  await refreshConfig(rt);
  const log = rt.log.child({ fn: 'poller' });
  queueUrls ??= JSON.parse(optionalEnv(ENV.queueUrls) ?? '{}') as Record<string, string>;
  const signal = AbortSignal.timeout(Math.max(1_000, context.getRemainingTimeInMillis() - 5_000));
  const t = rt.table;
  // Metrics: how late the due deliveries it found were (its lag), each destination's pause, status changes.
  const started = Date.now();
  let lagMs = 0;
  const states = new Map<string, boolean>();
  const summary = await pollDue(
    {
      config: rt.config,
      vendors: rt.vendors,
      log,
      queueUrls,
      context: (transmit, plugin, s) =>
        createVendorContext(transmit, plugin, vendorRuntime, s, { purpose: 'poll' }),
      ports: {
        due: async (dest, status, limit, before) => {
          const due = await t.due(dest, status, limit, before);
          for (const r of due)
            if (r.nextCheckAt) lagMs = Math.max(lagMs, started - Date.parse(r.nextCheckAt));
          return due;
        },
        applyCheck: async (rec, update) => {
          const written = await t.applyCheck(rec, update);
          if (written && rec.destination && update.status !== rec.status)
            metrics.status(rec.destination, update.status);
          return written;
        },
        destinationState: async (name) => {
          const s = await t.destinationState(name);
          states.set(name, s.paused);
          return s;
        },
        pauseDestination: (name, reason, probeAt) => t.pauseDestination(name, reason, probeAt),
        takeProbe: (name, next) => t.takeProbe(name, next),
        markRequeued: (rec) => t.markRequeued(rec),
        deferCheck: (rec, next) => t.deferCheck(rec, next),
        send: (url, messages) => rt.queues.sendAll(url, messages),
        knownDestinations: () => t.knownDestinations(),
        rememberDestination: (name) => t.rememberDestination(name),
        forgetDestination: (name) => t.forgetDestination(name),
      },
    },
    signal,
  );
  try {
    for (const d of rt.config.data_transmit) {
      const paused = states.get(d.transmit_name) ?? (await t.destinationState(d.transmit_name)).paused;
      metrics.gauge(d.transmit_name, METRIC.paused, paused ? 1 : 0);
    }
    metrics.overall(METRIC.pollLag, MetricUnit.Seconds, Math.max(0, Math.round(lagMs / 1000)));
  } finally {
    metrics.flush();
  }
  if (summary.checked > 0 || summary.released || summary.probes || summary.swept)
    log.info('poll run', { ...summary });
  return summary;
}

export const handler = middy().use(sourceMappedErrors()).handler(pollOnce);
