/**
 * `GET /v1/status` and `GET /v1/streams`: the aggregated counters (status.ts, streams.ts) with the destinations'
 * state items and the vendors' dead-letter depths. No scan: a few Gets and Queries whatever the table holds.
 */
import { ok } from './envelope.ts';
import { buildStatus } from './status.ts';
import { buildStreams } from './streams.ts';
import type { OpsDeps, OpsRequest } from './types.ts';

export async function getStatus(_req: OpsRequest, deps: OpsDeps) {
  return ok(
    await buildStatus({
      config: deps.config().config,
      counters: deps.counters,
      destinationState: (name) => deps.table.destinationState(name),
      dlqDepth: async (vendor) => {
        const q = deps.vendorQueues.find((x) => x.name === vendor);
        return q?.dlqUrl ? deps.queues.depth(q.dlqUrl) : undefined;
      },
      now: deps.now,
    }),
  );
}

export async function getStreams(_req: OpsRequest, deps: OpsDeps) {
  return ok(
    await buildStreams({
      config: deps.config().config,
      counters: deps.counters,
      destinationState: (name) => deps.table.destinationState(name),
      now: deps.now,
    }),
  );
}
