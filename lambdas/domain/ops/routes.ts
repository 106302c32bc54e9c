/**
 * The ops API's route table: one entry per route key (route-keys.ts), each answered by its group's module.
 * `dispatch` turns an OpsError into its envelope and anything else into 500 INTERNAL (logged).
 */
import { errorMessage } from '#commons/errors.ts';
import {
  getConfig,
  getTemplate,
  listConfigVersions,
  listTemplates,
  saveConfig,
  validateConfigRoute,
} from './config.ts';
import { listDeadLetters, listRedrives, redrive } from './deadletters.ts';
import { getDelivery, listDeliveries } from './deliveries.ts';
import { startDestination, stopDestination } from './destinations.ts';
import { failure, notFound, OpsError, type OpsResult } from './envelope.ts';
import { logStream } from './logs.ts';
import { getRestream, restream } from './restream.ts';
import type { OpsRouteKey } from './route-keys.ts';
import type { OpsDeps, OpsRequest } from './types.ts';

export type OpsRoute = (req: OpsRequest, deps: OpsDeps) => Promise<OpsResult>;

const notBuilt: OpsRoute = (req) => Promise.reject(notFound(`${req.routeKey} is not part of this build yet`));

export const ROUTES: Record<OpsRouteKey, OpsRoute> = {
  'GET /v1/status': notBuilt,
  'GET /v1/streams': notBuilt,
  'GET /v1/deliveries': listDeliveries,
  'GET /v1/deliveries/{id}': getDelivery,
  'POST /v1/restream': restream,
  'GET /v1/restream/{requestId}': getRestream,
  'POST /v1/destinations/{name}/stop': stopDestination,
  'POST /v1/destinations/{name}/start': startDestination,
  'GET /v1/deadletters': listDeadLetters,
  'POST /v1/deadletters/redrive': redrive,
  'GET /v1/deadletters/redrives': listRedrives,
  'GET /v1/config': getConfig,
  'POST /v1/config': saveConfig,
  'POST /v1/config/validate': validateConfigRoute,
  'GET /v1/config/templates': listTemplates,
  'GET /v1/config/templates/{type}': getTemplate,
  'GET /v1/config/versions': listConfigVersions,
  'GET /v1/log/stream': logStream,
};

export async function dispatch(req: OpsRequest, deps: OpsDeps): Promise<OpsResult> {
  const route = (ROUTES as Record<string, OpsRoute | undefined>)[req.routeKey];
  try {
    if (!route) throw notFound(`no route ${req.routeKey}`);
    return await route(req, deps);
  } catch (err) {
    if (err instanceof OpsError) return failure(err);
    deps.log.error('ops request failed', { route: req.routeKey, error: errorMessage(err) });
    return failure(new OpsError('INTERNAL', `the request failed: ${errorMessage(err)}`));
  }
}
