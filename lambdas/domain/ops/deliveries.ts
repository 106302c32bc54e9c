/**
 * `GET /v1/deliveries` and `GET /v1/deliveries/{id}`: where is a unit's or a key's file, and why. Every read is
 * the table's key or one of its sparse indexes (bySerial, byOutcome, byDue), or an S3 listing of the key's
 * versions followed by each version's records: never a scan.
 */

import { UNROUTED_PARTITION } from '#commons/table.ts';
import { listStreams, matchStream, streamId } from '#domain/config/index.ts';
import {
  type DeliveryRecord,
  decodeDeliveryId,
  destinationOfSk,
  encodeDeliveryId,
  objectPk,
  restreamOfSk,
} from '#domain/delivery.ts';
import { type DeliveryStatus, FAILURE, isDue } from '#domain/status.ts';
import { invalid, notFound, type OpsResult, ok } from './envelope.ts';
import { limitOf, statusOf, timeOf } from './params.ts';
import type { OpsDeps, OpsRequest, Page } from './types.ts';

export interface Delivery {
  id: string;
  bucket: string;
  key: string;
  versionId?: string;
  destination?: string;
  vendor?: string;
  status: DeliveryStatus;
  serial?: string;
  stream?: string;
  createdAt: string;
  updatedAt: string;
  attempts: number;
  ambiguousSends?: number;
  vendorRef?: string;
  lastError?: DeliveryRecord['lastError'];
  notice?: DeliveryRecord['notice'];
  resultKey?: string;
  restreamOf?: string;
}

export function toDelivery(r: DeliveryRecord): Delivery {
  const restream = restreamOfSk(r.sk);
  const resultKey = (r as { resultKey?: unknown }).resultKey;
  return {
    id: encodeDeliveryId(r),
    bucket: r.bucket,
    key: r.key,
    ...(r.versionId ? { versionId: r.versionId } : {}),
    ...(destinationOfSk(r.sk) ? { destination: destinationOfSk(r.sk) } : {}),
    ...(r.vendor ? { vendor: r.vendor } : {}),
    status: r.status,
    ...(r.serialNumber ? { serial: r.serialNumber } : {}),
    ...(r.asset && r.streamType ? { stream: `${r.asset}:${r.streamType}` } : {}),
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    attempts: r.attempts ?? 0,
    ...(r.ambiguousSends ? { ambiguousSends: r.ambiguousSends } : {}),
    ...(r.vendorRef ? { vendorRef: r.vendorRef } : {}),
    ...(r.lastError ? { lastError: r.lastError } : {}),
    ...(r.notice ? { notice: r.notice } : {}),
    ...(typeof resultKey === 'string' ? { resultKey } : {}),
    ...(restream ? { restreamOf: restream } : {}),
  };
}

const token = (v: unknown): string => Buffer.from(JSON.stringify(v), 'utf8').toString('base64url');
function untoken<T>(raw: string | undefined): T | undefined {
  if (!raw) return undefined;
  try {
    return JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as T;
  } catch {
    throw invalid('next is not a token this API gave');
  }
}

/**
 * The spellings of a key prefix to list: its NFC form, and its NFD form when that differs. Records name the
 * real object, and S3 lists bytes: a key written NFD by a Mac is under the NFD prefix only, while the user types
 * NFC. Listing both finds keys written wholly in either form (what file systems do); a key whose prefix mixes
 * the two forms is found only by a prefix in its own spelling, or by serial.
 */
export function prefixForms(prefix: string): string[] {
  const nfc = prefix.normalize('NFC');
  const nfd = prefix.normalize('NFD');
  return nfd === nfc ? [nfc] : [nfc, nfd];
}

/** Where a listing over several prefix forms goes on: the form's index, and S3's token within it. */
interface PrefixCursor {
  f: number;
  n?: string;
}

function cursorOf(raw: unknown): PrefixCursor {
  // A token of the previous format was S3's token of the only listing.
  if (typeof raw === 'string') return { f: 0, n: raw };
  const c = raw as { f?: unknown; n?: unknown } | undefined;
  if (!c || typeof c !== 'object' || typeof c.f !== 'number' || !Number.isInteger(c.f) || c.f < 0)
    return { f: 0 };
  return { f: c.f, ...(typeof c.n === 'string' ? { n: c.n } : {}) };
}

/**
 * Every record of the object versions under a prefix (S3 listing of each form of the prefix in turn, then one
 * key read per version).
 */
async function underPrefix(
  deps: OpsDeps,
  prefix: string,
  limit: number,
  next: PrefixCursor | undefined,
  keep: (r: DeliveryRecord, lastModified: string) => boolean,
): Promise<Page<DeliveryRecord> & { cursor?: PrefixCursor }> {
  const forms = prefixForms(prefix);
  const items: DeliveryRecord[] = [];
  // A form listed to its end goes on to the next one in the same request (at most two listings), so that
  // the first page is not empty when every key is in the second form.
  for (let at = next ?? { f: 0 }; ; at = { f: at.f + 1 }) {
    const form = forms[at.f];
    if (form === undefined) return { items };
    const listed = await deps.objects.listLatest(deps.ingestBucket, form, Math.min(limit, 50), at.n);
    for (const v of listed.versions) {
      const pk = objectPk({ bucket: deps.ingestBucket, key: v.key, etag: v.etag, versionId: v.versionId });
      for (const r of await deps.table.forObject(pk)) if (keep(r, v.lastModified)) items.push(r);
    }
    if (listed.next) return { items, cursor: { f: at.f, n: listed.next } };
  }
}

/** The literal start of a key pattern: what every key of the stream begins with. */
export function patternPrefix(pattern: string): string {
  const at = pattern.search(/[{*]/);
  return at < 0 ? pattern : pattern.slice(0, at);
}

export async function listDeliveries(req: OpsRequest, deps: OpsDeps): Promise<OpsResult> {
  const q = req.query;
  const limit = limitOf(q.limit, 50, 500);
  const since = timeOf('since', q.since);
  const until = timeOf('until', q.until);
  const status = statusOf(q.status);
  const destination = q.destination || undefined;
  // Serials are recorded in NFC (route.ts), and a key prefix is listed in both forms (prefixForms): what a user
  // types or pastes, in either form, is looked up as NFC.
  const serial = q.serial ? q.serial.normalize('NFC') : undefined;
  const keyPrefix = q.key ? q.key.normalize('NFC') : undefined;
  const selectors = ['serial', 'key', 'stream'].filter((s) => q[s]);
  if (selectors.length > 1) throw invalid('give one of serial, key or stream');
  const inRange = (t: string | undefined) =>
    t === undefined || ((!since || t >= since) && (!until || t <= until));
  const filter = (r: DeliveryRecord) =>
    (!status || r.status === status) &&
    (!destination ||
      destinationOfSk(r.sk) === destination ||
      (destination === '(unrouted)' && r.sk === 'route'));

  let page: Page<DeliveryRecord>;
  if (serial) {
    page = await deps.table.query({
      index: 'bySerial',
      value: serial,
      from: since,
      to: until,
      limit,
      next: q.next,
    });
    page.items = page.items.filter(filter);
    // A key that matched no stream has no parsed serial: the unrouted keys (a small sparse partition) whose
    // name holds it are shown too, on the first page.
    if (!q.next && (!status || status === 'UNROUTED')) {
      const unrouted = await deps.table.query({
        index: 'byOutcome',
        value: UNROUTED_PARTITION,
        from: since,
        to: until,
        limit: 500,
      });
      const seen = new Set(page.items.map((r) => `${r.pk}\n${r.sk}`));
      for (const r of unrouted.items)
        if (r.key.normalize('NFC').includes(serial) && !seen.has(`${r.pk}\n${r.sk}`)) page.items.push(r);
    }
  } else if (keyPrefix) {
    const listed = await underPrefix(
      deps,
      keyPrefix,
      limit,
      q.next ? cursorOf(untoken<unknown>(q.next)) : undefined,
      (r, lm) => filter(r) && inRange(lm),
    );
    page = { items: listed.items, ...(listed.cursor ? { next: token(listed.cursor) } : {}) };
  } else if (q.stream) {
    const ref = listStreams(deps.config().config).find((s) => streamId(s.stream) === q.stream);
    if (!ref) throw notFound(`no stream ${q.stream} in the config (asset:stream_type)`);
    const config = deps.config().config;
    const listed = await underPrefix(
      deps,
      patternPrefix(ref.stream.key_pattern),
      limit,
      q.next ? cursorOf(untoken<unknown>(q.next)) : undefined,
      (r, lm) =>
        filter(r) &&
        inRange(lm) &&
        streamId(matchStream(config, r.bucket, r.key)?.stream ?? { asset: '', stream_type: '' }) === q.stream,
    );
    page = { items: listed.items, ...(listed.cursor ? { next: token(listed.cursor) } : {}) };
  } else if (destination && status) {
    const unrouted = destination === '(unrouted)' || status === 'UNROUTED';
    const index = unrouted || FAILURE.includes(status) ? 'byOutcome' : isDue(status) ? 'byDue' : undefined;
    if (!index)
      throw invalid(
        `status ${status} is not indexed by destination (failures and statuses still due are): find it by serial or key`,
      );
    page = await deps.table.query({
      index,
      value: unrouted ? UNROUTED_PARTITION : `${destination}#${status}`,
      ...(index === 'byOutcome' ? { from: since, to: until } : {}),
      limit,
      next: q.next,
    });
  } else {
    throw invalid('give serial, key or stream, or destination and status');
  }
  return ok({ items: page.items.map(toDelivery), ...(page.next ? { next: page.next } : {}) });
}

export async function getDelivery(req: OpsRequest, deps: OpsDeps): Promise<OpsResult> {
  const id = req.path.id ?? '';
  const key = decodeDeliveryId(id);
  if (!key) throw notFound(`no delivery with id ${id}`);
  const r = await deps.table.get(key);
  if (!r) throw notFound(`no delivery with id ${id}`);
  const extra = r as DeliveryRecord & { vendorDetail?: unknown };
  const restream = restreamOfSk(r.sk);
  return ok({
    ...toDelivery(r),
    history: r.history ?? [],
    ...(r.checkpoint ? { checkpoint: r.checkpoint } : {}),
    ...(r.fields ? { fields: r.fields } : {}),
    ...(extra.vendorDetail ? { vendorDetail: extra.vendorDetail } : {}),
    ...(r.nextCheckAt && isDue(r.status) ? { nextCheckAt: r.nextCheckAt } : {}),
    ...(r.sidecar ? { sidecar: r.sidecar } : {}),
    ...(restream ? { restream: { requestId: restream } } : {}),
  });
}
