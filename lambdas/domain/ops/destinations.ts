/**
 * `POST /v1/destinations/{name}/stop|start` (FactoryTX's ftx/stop|start, per destination). A stopped destination
 * holds its deliveries in the table (HELD / DESTINATION_STOPPED, no attempt spent, no probe); start lets it run
 * and the poller queues what it held again (the core's mechanism: forward.ts, poll.ts).
 */
import { notFound, type OpsResult, ok } from './envelope.ts';
import type { OpsDeps, OpsRequest } from './types.ts';

export type DestinationStateName = 'running' | 'paused' | 'stopped' | 'disabled';

export function stateName(
  s: { paused: boolean; stoppedByOperator?: boolean },
  enabled = true,
): DestinationStateName {
  if (!enabled) return 'disabled';
  if (s.stoppedByOperator) return 'stopped';
  return s.paused ? 'paused' : 'running';
}

function transmitOf(req: OpsRequest, deps: OpsDeps) {
  const name = req.path.name ?? '';
  const t = deps.config().config.data_transmit.find((d) => d.transmit_name === name);
  if (!t) throw notFound(`no destination named ${name} in the config`);
  return t;
}

async function operate(req: OpsRequest, deps: OpsDeps, action: 'stop' | 'start'): Promise<OpsResult> {
  const t = transmitOf(req, deps);
  if (action === 'stop') await deps.table.stopDestination(t.transmit_name, req.by);
  else await deps.table.startDestination(t.transmit_name, req.by);
  deps.log.info(`destination ${action === 'stop' ? 'stopped' : 'started'} by an operator`, {
    destination: t.transmit_name,
    by: req.by,
  });
  const s = await deps.table.destinationState(t.transmit_name);
  return ok({
    name: t.transmit_name,
    state: stateName(s, t.enabled !== false),
    by: req.by,
    at: new Date(deps.now()).toISOString(),
  });
}

export const stopDestination = (req: OpsRequest, deps: OpsDeps) => operate(req, deps, 'stop');
export const startDestination = (req: OpsRequest, deps: OpsDeps) => operate(req, deps, 'start');
