/**
 * `POST /v1/restream`: an explicit new delivery of each matching object version to each matching destination.
 *
 * Which objects: FactoryTX's streams (`{"<data_receiver_name>": [{asset, stream_type}]}`) and `keys` from an S3
 * listing under the key prefix; `serial` from the bySerial index; `destination` + `status` from byOutcome or
 * byDue. Never a scan. `since`/`until` bound the object's arrival; `status`, `code`, `destination` narrow to
 * the objects whose records match (and to those destinations).
 *
 * How: each object version is put on the ingest queue as an S3 event carrying the request (route.ts
 * RESTREAM_FIELD), spread over time with SQS delays at `perSecond`: the router routes it with the current
 * config into new records `restream#<requestId>#<destination>` beside the earlier ones. The request is stored
 * once (conditional put): the same request id again queues nothing, unless it stopped part-way.
 *
 * Progress is recorded as batches go (`queued`, and `after`: the last object version queued, in key order),
 * under a lease on the request. A request that stopped part-way (an SQS error, the Lambda killed) stays
 * `running`; the same request again (same id and body) resumes after `after` once the lease is free, so what was
 * queued is not queued again. Only a crash between a batch's send and its record can queue that batch (≤ 10)
 * twice, and the router's conditional put of `restream#<requestId>#<destination>` makes the second a no-op.
 */
import { createHash, randomUUID } from 'node:crypto';
import { errorMessage } from '#commons/errors.ts';
import { UNROUTED_PARTITION } from '#commons/table.ts';
import { isSidecarKey, listStreams, matchStream, streamId } from '#domain/config/index.ts';
import { type DeliveryRecord, destinationOfSk, objectPk, REQUEST_ID, sqsSafeJson } from '#domain/delivery.ts';
import { RESTREAM_FIELD } from '#domain/route.ts';
import { type DeliveryStatus, FAILURE, isDue } from '#domain/status.ts';
import { patternPrefix, prefixForms } from './deliveries.ts';
import { accepted, invalid, notFound, OpsError, type OpsResult, ok } from './envelope.ts';
import { jsonBody, optionalString, perSecondOf, statusOf, timeOf } from './params.ts';
import type { IndexQuery, OpsDeps, OpsRequest, StoredRequest } from './types.ts';

/** SQS delays a message by at most 15 minutes: the rate bound spreads a request over that window at most. */
const MAX_DELAY_SECONDS = 900;
const DEFAULT_PER_SECOND = 20;
const MAX_PER_SECOND = 100;
const MAX_KEYS = 1000;

interface Target {
  key: string;
  versionId?: string;
  etag: string;
  size: number;
  arrivedAt: string;
  /** Only these destinations; undefined: every one the config routes the stream to. */
  destinations?: string[];
}

interface Filters {
  since?: string;
  until?: string;
  serial?: string;
  destination?: string;
  status?: DeliveryStatus;
  code?: string;
  keys?: string[];
  streams: Array<{ asset: string; stream_type: string }>;
  perSecond: number;
}

function parseFilters(body: Record<string, unknown>, deps: OpsDeps): Filters {
  const receivers = new Set(deps.config().config.data_receiver.map((r) => r.data_receiver_name));
  const streams: Filters['streams'] = [];
  const known = new Set([
    'requestId',
    'since',
    'until',
    'serial',
    'destination',
    'status',
    'code',
    'keys',
    'perSecond',
    'dryRun',
  ]);
  for (const [name, value] of Object.entries(body)) {
    if (known.has(name)) continue;
    if (!receivers.has(name))
      throw invalid(`"${name}" is neither a filter nor a data_receiver_name of the config`);
    if (!Array.isArray(value)) throw invalid(`${name} must be a list of {asset, stream_type}`);
    for (const s of value as Array<Record<string, unknown>>) {
      const id = `${String(s?.asset)}:${String(s?.stream_type)}`;
      const ref = listStreams(deps.config().config).find(
        (r) => r.receiver.data_receiver_name === name && streamId(r.stream) === id,
      );
      if (!ref) throw invalid(`receiver ${name} has no stream ${id}`);
      streams.push({ asset: ref.stream.asset, stream_type: ref.stream.stream_type });
    }
  }
  const keys = body.keys;
  if (keys !== undefined && (!Array.isArray(keys) || keys.some((k) => typeof k !== 'string' || !k)))
    throw invalid('keys must be a list of object keys');
  if (Array.isArray(keys) && keys.length > MAX_KEYS) throw invalid(`at most ${MAX_KEYS} keys per request`);
  const destination = optionalString(body, 'destination');
  if (destination && !deps.config().config.data_transmit.some((t) => t.transmit_name === destination))
    throw notFound(`no destination named ${destination} in the config`);
  const f: Filters = {
    since: timeOf('since', optionalString(body, 'since')),
    until: timeOf('until', optionalString(body, 'until')),
    serial: optionalString(body, 'serial'),
    destination,
    status: statusOf(optionalString(body, 'status')),
    code: optionalString(body, 'code'),
    ...(Array.isArray(keys) ? { keys: keys as string[] } : {}),
    streams,
    perSecond: perSecondOf(body.perSecond, DEFAULT_PER_SECOND, MAX_PER_SECOND),
  };
  if (!f.streams.length && !f.keys && !f.serial && !(f.destination && f.status))
    throw invalid('say what to restream: streams, keys, serial, or destination and status');
  return f;
}

const inRange = (f: Filters, t: string) => (!f.since || t >= f.since) && (!f.until || t <= f.until);
const recordMatches = (f: Filters, r: DeliveryRecord) =>
  (!f.status || r.status === f.status) &&
  (!f.code || r.lastError?.code === f.code || r.notice?.code === f.code) &&
  (!f.destination || destinationOfSk(r.sk) === f.destination);
const narrows = (f: Filters) => Boolean(f.status || f.code || f.destination);

/** The destinations an object is restreamed to, from its records; null: skip it. */
function destinationsFrom(f: Filters, records: DeliveryRecord[]): string[] | undefined | null {
  if (!narrows(f)) return undefined;
  const matching = records.filter((r) => recordMatches(f, r));
  if (matching.length === 0) return null;
  const names = [...new Set(matching.map((r) => destinationOfSk(r.sk)).filter((d): d is string => !!d))];
  // An unrouted record has no destination: re-route the object to wherever the config sends it now.
  return matching.some((r) => r.sk === 'route') ? undefined : names;
}

async function fromListing(deps: OpsDeps, f: Filters, prefix: string, keep: (key: string) => boolean) {
  const out: Target[] = [];
  let next: string | undefined;
  do {
    const page = await deps.objects.listLatest(deps.ingestBucket, prefix, 1000, next);
    for (const v of page.versions) {
      if (!keep(v.key) || !inRange(f, v.lastModified)) continue;
      if (f.keys && !v.isLatest) continue;
      const t: Target = { key: v.key, etag: v.etag, size: v.size, arrivedAt: v.lastModified };
      if (v.versionId) t.versionId = v.versionId;
      if (narrows(f)) {
        const d = destinationsFrom(
          f,
          await deps.table.forObject(objectPk({ bucket: deps.ingestBucket, ...t })),
        );
        if (d === null) continue;
        if (d) t.destinations = d;
      }
      out.push(t);
    }
    next = page.next;
  } while (next);
  return out;
}

async function fromIndex(deps: OpsDeps, f: Filters, q: Omit<IndexQuery, 'limit' | 'next'>) {
  const byPk = new Map<string, { records: DeliveryRecord[] }>();
  let next: string | undefined;
  do {
    const page = await deps.table.query({ ...q, limit: 500, next });
    for (const r of page.items) {
      if (!inRange(f, r.createdAt)) continue;
      const e = byPk.get(r.pk) ?? { records: [] };
      e.records.push(r);
      byPk.set(r.pk, e);
    }
    next = page.next;
  } while (next);
  const out: Target[] = [];
  for (const { records } of byPk.values()) {
    const first = records[0] as DeliveryRecord;
    if (first.bucket !== deps.ingestBucket) continue;
    const d = destinationsFrom(f, records);
    if (d === null) continue;
    out.push({
      key: first.key,
      etag: first.etag,
      size: first.size,
      arrivedAt: first.createdAt,
      ...(first.versionId ? { versionId: first.versionId } : {}),
      ...(d ? { destinations: d } : {}),
    });
  }
  return out;
}

async function targets(deps: OpsDeps, f: Filters): Promise<Target[]> {
  const config = deps.config().config;
  const all: Target[] = [];
  for (const s of f.streams) {
    const ref = listStreams(config).find((r) => streamId(r.stream) === streamId(s));
    if (!ref) continue;
    const id = streamId(s);
    // Both spellings of the pattern's prefix: a Mac writes keys NFD, the config is NFC (prefixForms).
    for (const prefix of prefixForms(patternPrefix(ref.stream.key_pattern)))
      all.push(
        ...(await fromListing(deps, f, prefix, (key) => {
          if (isSidecarKey(config, key, deps.ingestBucket)) return false;
          const m = matchStream(config, deps.ingestBucket, key);
          return m !== undefined && streamId(m.stream) === id;
        })),
      );
  }
  for (const key of f.keys ?? []) all.push(...(await fromListing(deps, f, key, (k) => k === key)));
  if (f.serial) all.push(...(await fromIndex(deps, f, { index: 'bySerial', value: f.serial })));
  if (!f.streams.length && !f.keys && !f.serial && f.destination && f.status) {
    const index =
      f.status === 'UNROUTED' || FAILURE.includes(f.status)
        ? 'byOutcome'
        : isDue(f.status)
          ? 'byDue'
          : undefined;
    if (!index)
      throw invalid(`status ${f.status} is not indexed by destination: add streams, keys or serial`);
    const value = f.status === 'UNROUTED' ? UNROUTED_PARTITION : `${f.destination}#${f.status}`;
    all.push(...(await fromIndex(deps, f, { index, value })));
  }
  // One restream per object version, even when two selectors found it.
  const seen = new Set<string>();
  return all.filter((t) => {
    const id = `${t.key}\n${t.versionId ?? t.etag}`;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

/** The S3 event a new upload of this version would have made, carrying the request. */
function eventBody(deps: OpsDeps, requestId: string, t: Target): string {
  return sqsSafeJson({
    Records: [
      {
        eventVersion: '2.1',
        eventSource: 'aws:s3',
        eventName: 'ObjectCreated:Put',
        eventTime: t.arrivedAt,
        s3: {
          bucket: { name: deps.ingestBucket },
          object: {
            key: encodeURIComponent(t.key).replace(/%20/g, '+'),
            size: t.size,
            eTag: t.etag,
            ...(t.versionId ? { versionId: t.versionId } : {}),
          },
        },
      },
    ],
    [RESTREAM_FIELD]: { requestId, ...(t.destinations ? { destinations: t.destinations } : {}) },
  });
}

/** The request's body without its id, keys sorted: the same request twice has the same fingerprint. */
function fingerprint(body: Record<string, unknown>): string {
  const { requestId: _id, ...rest } = body;
  const canon = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(canon)
      : v && typeof v === 'object'
        ? Object.fromEntries(
            Object.keys(v)
              .sort()
              .map((k) => [k, canon((v as Record<string, unknown>)[k])]),
          )
        : v;
  return createHash('sha256')
    .update(JSON.stringify(canon(rest)))
    .digest('hex');
}

function view(stored: StoredRequest, duplicate: boolean) {
  const { kind: _k, id, fingerprint: _f, lease: _l, leaseUntil: _u, after: _a, ...rest } = stored;
  return { requestId: id, ...rest, duplicate };
}

/** How long a restream's sender holds the request: past the ops Lambda's 29 s timeout, so a killed one lets go. */
const LEASE_MS = 60_000;

const targetId = (t: Target) => `${t.key}\n${t.versionId ?? t.etag}`;

/**
 * Queues the targets after the stored cursor (`after`, the id of the last one queued), in id order, batch by
 * batch, recording `queued` and `after` after each batch under the request's lease. A send that fails leaves
 * the request `running` at its last recorded batch and the lease let go: the same request again resumes there.
 */
async function send(
  deps: OpsDeps,
  stored: StoredRequest,
  lease: string,
  found: Target[],
  perSecond: number,
): Promise<StoredRequest> {
  const requestId = stored.id;
  const after = typeof stored.after === 'string' ? stored.after : undefined;
  let queued = typeof stored.queued === 'number' ? stored.queued : 0;
  const startedAt = Date.parse(String(stored.at));
  const rest = found
    .map((t) => ({ t, id: targetId(t) }))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .filter((x) => after === undefined || x.id > after);
  let cursor = after;
  for (let i = 0; i < rest.length; i += 10) {
    // The schedule of the whole request: a resumed one goes on at the rate, not from zero.
    const elapsed = Math.max(0, Math.floor((deps.now() - startedAt) / 1000));
    const chunk = rest.slice(i, i + 10);
    const batch = chunk.map((x, j) => ({
      id: String(j),
      body: eventBody(deps, requestId, x.t),
      delaySeconds: Math.min(MAX_DELAY_SECONDS, Math.max(0, Math.floor((queued + j) / perSecond) - elapsed)),
    }));
    try {
      await deps.queues.send(deps.ingestQueue.url, batch);
    } catch (err) {
      await deps.table
        .updateLeased('restream', requestId, lease, { leaseUntil: 0, lastError: errorMessage(err) })
        .catch(() => {});
      deps.log.error('restream stopped part-way', { requestId, queued, error: errorMessage(err) });
      throw new OpsError(
        'INTERNAL',
        `restream ${requestId} stopped after queueing ${queued} of ${queued + rest.length - i} (${errorMessage(err)}): POST the same request again to queue the rest`,
        view({ ...stored, queued }, false),
      );
    }
    queued += batch.length;
    cursor = chunk[chunk.length - 1]?.id;
    const held = await deps.table.updateLeased('restream', requestId, lease, {
      queued,
      after: cursor,
      leaseUntil: deps.now() + LEASE_MS,
    });
    if (!held) throw new OpsError('CONFLICT', `restream ${requestId} was taken over by another request`);
  }
  const done = { queued, state: 'done', leaseUntil: 0, ...(cursor ? { after: cursor } : {}) };
  await deps.table.updateLeased('restream', requestId, lease, done);
  return { ...stored, ...done };
}

export async function restream(req: OpsRequest, deps: OpsDeps): Promise<OpsResult> {
  const body = jsonBody(req.body);
  const requestId = body.requestId;
  if (typeof requestId !== 'string' || !REQUEST_ID.test(requestId))
    throw invalid('requestId is required: 1 to 64 characters of A-Z a-z 0-9 . _ -');
  if (body.dryRun !== undefined && typeof body.dryRun !== 'boolean')
    throw invalid('dryRun must be true or false');
  if (body.dryRun === true) {
    // How many deliveries this restream would make (the ops page states it before asking to confirm): the same
    // selection, nothing stored, nothing queued; the request id stays free for the real request.
    const found = await targets(deps, parseFilters(body, deps));
    return ok({ requestId, matched: found.length, queued: 0, duplicate: false, dryRun: true });
  }
  const print = fingerprint(body);
  const lease = randomUUID();
  // The same request again: its stored answer, or, when it stopped part-way (`running`, nobody at it), the rest.
  const earlier = async (stored: StoredRequest): Promise<OpsResult> => {
    if (stored.fingerprint !== print)
      throw new OpsError('CONFLICT', `request ${requestId} was already used for a different restream`);
    if (stored.state !== 'running') return accepted(view(stored, true));
    const claimed = await deps.table.claimRequest(
      'restream',
      requestId,
      lease,
      deps.now() + LEASE_MS,
      deps.now(),
    );
    if (!claimed) return accepted(view(stored, true));
    const f = parseFilters(body, deps);
    // The selection as it was: nothing that arrived after the request was first made.
    if (!f.until) f.until = String(claimed.at);
    const done = await send(deps, claimed, lease, await targets(deps, f), f.perSecond);
    deps.log.info('restream resumed', { requestId, queued: done.queued, by: req.by });
    return accepted({ ...view(done, true), resumed: true });
  };
  const stored = await deps.table.getRequest('restream', requestId);
  if (stored) return earlier(stored);

  const f = parseFilters(body, deps);
  const at = new Date(deps.now()).toISOString();
  if (!f.until) f.until = at;
  const found = await targets(deps, f);
  if (found.length > f.perSecond * MAX_DELAY_SECONDS)
    throw invalid(
      `${found.length} objects match: more than ${f.perSecond * MAX_DELAY_SECONDS} (${MAX_DELAY_SECONDS} s at ${f.perSecond}/s); narrow it (since/until) or raise perSecond`,
    );
  const request: StoredRequest = {
    kind: 'restream',
    id: requestId,
    fingerprint: print,
    by: req.by,
    at,
    filters: { ...body, requestId: undefined },
    matched: found.length,
    queued: 0,
    perSecond: f.perSecond,
    state: 'running',
    lease,
    leaseUntil: deps.now() + LEASE_MS,
  };
  const put = await deps.table.putRequest(request);
  if (!put.created) return earlier(put.stored);

  const done = await send(deps, request, lease, found, f.perSecond);
  deps.log.info('restream queued', { requestId, matched: found.length, queued: done.queued, by: req.by });
  return accepted(view(done, false));
}

export async function getRestream(req: OpsRequest, deps: OpsDeps): Promise<OpsResult> {
  const id = req.path.requestId ?? '';
  const stored = await deps.table.getRequest('restream', id);
  if (!stored) throw notFound(`no restream request ${id}`);
  return ok(view(stored, false));
}
