/** `GET /v1/log/stream`: the relay's recent log lines, by delivery or key (the JSON log file, or CloudWatch). */
import { decodeDeliveryId, keyParts } from '#domain/delivery.ts';
import { type OpsResult, ok } from './envelope.ts';
import { limitOf, timeOf } from './params.ts';
import type { OpsDeps, OpsRequest } from './types.ts';

/**
 * Lines from the last hour unless `since` says otherwise (docs/ops-api.md). Decided here, by the ops clock, for
 * every backend: the log file and CloudWatch read the same window.
 */
const DEFAULT_SINCE_MS = 60 * 60_000;

export async function logStream(req: OpsRequest, deps: Pick<OpsDeps, 'logs' | 'now'>): Promise<OpsResult> {
  const q = req.query;
  // Log lines name a delivery by its object key (and destination): a delivery id is read as its key.
  const ofDelivery = q.delivery ? decodeDeliveryId(q.delivery) : undefined;
  const key = q.key || (ofDelivery ? keyParts(ofDelivery.pk, ofDelivery.sk)?.key : undefined);
  const lines = await deps.logs.read({
    ...(q.delivery && !ofDelivery ? { delivery: q.delivery } : {}),
    ...(key ? { key } : {}),
    ...(q.level ? { level: q.level } : {}),
    since: timeOf('since', q.since) ?? new Date(deps.now() - DEFAULT_SINCE_MS).toISOString(),
    limit: limitOf(q.limit, 200, 1000),
  });
  return ok({ lines });
}

const ORDER: Record<string, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Whether a parsed log line passes the filter (shared by the file reader and tests). */
export function lineMatches(
  line: Record<string, unknown>,
  f: { delivery?: string; key?: string; level?: string; since?: string },
): boolean {
  // A metric, not a log line: Powertools Metrics writes EMF lines (`_aws` block) to the same stdout and log group.
  if ('_aws' in line) return false;
  if (f.level && (ORDER[String(line.level)] ?? 0) < (ORDER[f.level] ?? 0)) return false;
  if (f.since && String(line.time ?? '') < f.since) return false;
  const text = JSON.stringify(line);
  if (f.delivery && !text.includes(f.delivery)) return false;
  if (f.key && !text.includes(JSON.stringify(f.key).slice(1, -1))) return false;
  return true;
}
