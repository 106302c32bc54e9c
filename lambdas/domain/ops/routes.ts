/**
 * The ops API's route table: one entry per route key (route-keys.ts), each answered by its group's module.
 * `dispatch` turns an OpsError into its envelope and anything else into 500 INTERNAL (logged with the request
 * id). A request no route key matched (API Gateway's `$default` route) is 404 NOT_FOUND, or 405
 * METHOD_NOT_ALLOWED when its path is a route under another method.
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
import { getStatus, getStreams } from './health.ts';
import { logStream } from './logs.ts';
import { getRestream, restream } from './restream.ts';
import { OPS_ROUTE_KEYS, type OpsRouteKey } from './route-keys.ts';
import type { OpsDeps, OpsRequest } from './types.ts';

export type OpsRoute = (req: OpsRequest, deps: OpsDeps) => Promise<OpsResult>;

export const ROUTES: Record<OpsRouteKey, OpsRoute> = {
  'GET /v1/status': getStatus,
  'GET /v1/streams': getStreams,
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

/** The methods whose route keys' paths match `rawPath` (`{name}` matches one non-empty segment). */
export function methodsFor(rawPath: string): string[] {
  const parts = rawPath.split('?')[0]?.replace(/\/+$/, '').split('/') ?? [];
  return OPS_ROUTE_KEYS.flatMap((key) => {
    const [method, path] = key.split(' ') as [string, string];
    const segs = path.split('/');
    const same =
      segs.length === parts.length &&
      segs.every((s, i) => (s.startsWith('{') ? (parts[i] ?? '') !== '' : s === parts[i]));
    return same ? [method] : [];
  });
}

function unmatched(req: OpsRequest): OpsError {
  const path = req.rawPath ?? '';
  const methods = methodsFor(path);
  if (methods.length > 0 && !methods.includes(req.method.toUpperCase()))
    return new OpsError('METHOD_NOT_ALLOWED', `${req.method} ${path}: use ${methods.join(' or ')}`);
  return notFound(`no route ${req.method} ${path} (docs/ops-api.md lists them)`);
}

export async function dispatch(req: OpsRequest, deps: OpsDeps): Promise<OpsResult> {
  const route = (ROUTES as Record<string, OpsRoute | undefined>)[req.routeKey];
  try {
    if (!route) throw unmatched(req);
    return await route(req, deps);
  } catch (err) {
    if (err instanceof OpsError) return failure(err);
    const requestId = req.requestId ?? 'none';
    deps.log.error('ops request failed', { route: req.routeKey, requestId, error: errorMessage(err) });
    return failure(
      new OpsError('INTERNAL', `the request failed (request id ${requestId}): ${errorMessage(err)}`),
    );
  }
}
