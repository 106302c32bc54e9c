/**
 * `GET /v1/deadletters`: each dead-letter queue's depth and a peek at its messages (received briefly, then
 * made visible again), each with the delivery it belongs to. `POST /v1/deadletters/redrive`: moves selected
 * messages (or all) back at a bounded rate, and records who did it, when and how many.
 *
 * A vendor DLQ holds delivery messages whose record is final (DEAD, UNCONFIRMED): moved back as they were, the
 * forwarder would find the record settled and do nothing. So each is sent as a new delivery of the same object
 * version (sk `restream#<redriveId>#<destination>`, recorded by the forwarder from the message), beside the
 * dead record and its history. An ingest DLQ message (an S3 event) goes back to the ingest queue as it was.
 */
import { randomBytes } from 'node:crypto';
import { decodeS3EventKey } from '#commons/s3-key.ts';
import { encodeDeliveryId, parseDeliveryMessage, sqsSafeJson } from '#domain/delivery.ts';
import { accepted, invalid, notFound, type OpsResult, ok } from './envelope.ts';
import { jsonBody, limitOf, optionalString, perSecondOf } from './params.ts';
import type { OpsDeps, OpsRequest, QueueInfo, QueueMessage } from './types.ts';

const DEFAULT_PER_SECOND = 10;
const MAX_PER_SECOND = 50;
/** A redrive call moves at most this many seconds' worth at its rate (the API answers within 30 s). */
const REDRIVE_BUDGET_SECONDS = 20;

function queues(deps: OpsDeps): QueueInfo[] {
  return [deps.ingestQueue, ...deps.vendorQueues];
}

function queueNamed(deps: OpsDeps, name: string): QueueInfo {
  const q = queues(deps).find((x) => x.name === name);
  if (!q)
    throw notFound(
      `no queue ${name}; queues: ${queues(deps)
        .map((x) => x.name)
        .join(', ')}`,
    );
  return q;
}

export function describeMessage(m: QueueMessage) {
  const msg = parseDeliveryMessage(m.body);
  let key: string | undefined;
  if (!msg) {
    try {
      const raw = (JSON.parse(m.body) as { Records?: Array<{ s3?: { object?: { key?: string } } }> })
        .Records?.[0]?.s3?.object?.key;
      if (typeof raw === 'string') key = decodeS3EventKey(raw);
    } catch {
      // not JSON: shown as it is
    }
  }
  return {
    messageId: m.messageId,
    ...(msg ? { deliveryId: encodeDeliveryId(msg), key: msg.object.key, destination: msg.destination } : {}),
    ...(key ? { key } : {}),
    ...(m.sentAt ? { sentAt: m.sentAt } : {}),
    ...(m.receiveCount !== undefined ? { receiveCount: m.receiveCount } : {}),
    ...(m.reason ? { reason: m.reason } : {}),
    body: m.body,
  };
}

/** Receives up to `max` distinct messages (several receives: SQS returns at most 10 at a time). */
async function peek(
  deps: OpsDeps,
  url: string,
  max: number,
  visibilitySeconds: number,
): Promise<QueueMessage[]> {
  const got = new Map<string, QueueMessage>();
  for (let round = 0; round < Math.ceil(max / 10) + 2 && got.size < max; round++) {
    const batch = await deps.queues.receive(url, Math.min(10, max - got.size), visibilitySeconds);
    if (batch.length === 0) break;
    for (const m of batch) got.set(m.messageId, m);
  }
  return [...got.values()];
}

export async function listDeadLetters(req: OpsRequest, deps: OpsDeps): Promise<OpsResult> {
  const limit = limitOf(req.query.limit, 10, 50);
  const chosen = req.query.queue ? [queueNamed(deps, req.query.queue)] : queues(deps);
  const out = [];
  for (const q of chosen) {
    const depth = await deps.queues.depth(q.dlqUrl);
    const messages = depth > 0 ? await peek(deps, q.dlqUrl, limit, 5) : [];
    for (const m of messages) await deps.queues.release(q.dlqUrl, m.receiptHandle);
    out.push({
      queue: q.name,
      ...(q.vendor ? { vendor: q.vendor } : {}),
      url: q.dlqUrl,
      depth,
      messages: messages.map(describeMessage),
    });
  }
  return ok({ queues: out });
}

export async function redrive(req: OpsRequest, deps: OpsDeps): Promise<OpsResult> {
  const body = jsonBody(req.body);
  const q = queueNamed(deps, optionalString(body, 'queue') ?? '');
  const ids = body.messageIds;
  if (ids !== undefined && (!Array.isArray(ids) || ids.some((x) => typeof x !== 'string')))
    throw invalid('messageIds must be a list of message ids');
  const wanted = ids ? new Set(ids as string[]) : undefined;
  const perSecond = perSecondOf(body.perSecond, DEFAULT_PER_SECOND, MAX_PER_SECOND);
  const budget = Math.max(1, Math.floor(perSecond * REDRIVE_BUDGET_SECONDS));
  const redriveId = `${new Date(deps.now()).toISOString().replace(/[-:.]/g, '')}-${randomBytes(4).toString('hex')}`;
  const at = new Date(deps.now()).toISOString();

  const found = await peek(deps, q.dlqUrl, wanted ? Math.max(wanted.size * 2, 50) : budget, 60);
  let moved = 0;
  const skipped: QueueMessage[] = [];
  for (const m of found) {
    if ((wanted && !wanted.has(m.messageId)) || moved >= budget) {
      skipped.push(m);
      continue;
    }
    const msg = parseDeliveryMessage(m.body);
    const bodyOut = msg
      ? sqsSafeJson({ ...msg, sk: `restream#${redriveId}#${msg.destination}`, probe: undefined })
      : m.body;
    await deps.queues.send(q.url, [{ id: '0', body: bodyOut }]);
    await deps.queues.delete(q.dlqUrl, m.receiptHandle);
    moved++;
    if (moved < found.length) await deps.sleep(1000 / perSecond);
  }
  for (const m of skipped) await deps.queues.release(q.dlqUrl, m.receiptHandle);
  const missing = wanted ? [...wanted].filter((id) => !found.some((m) => m.messageId === id)) : [];
  const record = {
    kind: 'redrive' as const,
    id: redriveId,
    queue: q.name,
    requested: wanted ? wanted.size : 'all',
    moved,
    ...(missing.length ? { notFound: missing } : {}),
    perSecond,
    by: req.by,
    at,
  };
  await deps.table.putRequest(record);
  deps.log.info('dead letters redriven', { redriveId, queue: q.name, moved, by: req.by });
  const { kind: _k, id: _i, ...rest } = record;
  return accepted({ redriveId, ...rest, remaining: Math.max(0, (await deps.queues.depth(q.dlqUrl)) - 0) });
}

export async function listRedrives(req: OpsRequest, deps: OpsDeps): Promise<OpsResult> {
  const limit = limitOf(req.query.limit, 20, 100);
  const items = await deps.table.listRequests('redrive', limit);
  return ok({ redrives: items.map(({ kind: _k, id, ...rest }) => ({ redriveId: id, ...rest })) });
}
