/**
 * Every route of the ops API (docs/ops-api.md), as API Gateway route keys. Pure data: CDK (lib/) adds each
 * one with IAM authorization, the local stack serves each one, and routes.ts maps each to its module.
 */
export const OPS_ROUTE_KEYS = [
  'GET /v1/status',
  'GET /v1/streams',
  'GET /v1/deliveries',
  'GET /v1/deliveries/{id}',
  'POST /v1/restream',
  'GET /v1/restream/{requestId}',
  'POST /v1/destinations/{name}/stop',
  'POST /v1/destinations/{name}/start',
  'GET /v1/deadletters',
  'POST /v1/deadletters/redrive',
  'GET /v1/deadletters/redrives',
  'GET /v1/config',
  'POST /v1/config',
  'POST /v1/config/validate',
  'GET /v1/config/templates',
  'GET /v1/config/templates/{type}',
  'GET /v1/config/versions',
  'GET /v1/log/stream',
] as const;

export type OpsRouteKey = (typeof OPS_ROUTE_KEYS)[number];
