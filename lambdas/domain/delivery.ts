/**
 * Delivery identity and the record ops read. One record per (object version × destination).
 */
import type { JsonObject, ObjectRef } from '#vendors/types.ts';
import type { DeliveryStatus, RecordedError } from './status.ts';

export interface DeliveryKey {
  pk: string;
  sk: string;
}

export interface HistoryEntry {
  at: string;
  /** The status entered, or NOTICE for a remark that changed no status (a sidecar that came late). */
  status: DeliveryStatus | 'NOTICE';
  code?: string;
}

export interface DeliveryRecord extends DeliveryKey {
  status: DeliveryStatus;
  destination?: string;
  vendor?: string;
  bucket: string;
  key: string;
  versionId?: string;
  etag: string;
  size: number;
  asset?: string;
  streamType?: string;
  serialNumber?: string;
  fields?: JsonObject;
  vendorRef?: string;
  attempts: number;
  /** Sends that may have reached the vendor without an answer (a lost answer, a forwarder killed mid-send). */
  ambiguousSends?: number;
  lastError?: RecordedError;
  /** The latest remark that is not a failure: why ALREADY_PRESENT or SKIPPED, a sidecar that came late. */
  notice?: RecordedError;
  /** Whether the router found the stream's sidecar (`none` when the stream has none). */
  sidecar?: 'used' | 'missing' | 'none';
  createdAt: string;
  updatedAt: string;
  leaseOwner?: string;
  leaseExpiresAt?: number;
  nextCheckAt?: string;
  pollCount?: number;
  checkpoint?: JsonObject;
  history: HistoryEntry[];
}

/** A record as the router creates it: the store adds attempts, timestamps and history. */
export type NewDelivery = Omit<
  DeliveryRecord,
  'attempts' | 'createdAt' | 'updatedAt' | 'history' | 'leaseOwner' | 'leaseExpiresAt'
>;

/** Which version of the object: the S3 version id when the bucket is versioned, else its ETag. */
export function versionOf(ref: Pick<ObjectRef, 'versionId' | 'etag'>): string {
  return ref.versionId ? `v=${ref.versionId}` : `etag=${ref.etag}`;
}

export function objectPk(ref: Pick<ObjectRef, 'bucket' | 'key' | 'versionId' | 'etag'>): string {
  return `object#${ref.bucket}/${ref.key}#${versionOf(ref)}`;
}

export function deliveryKey(ref: ObjectRef, destination: string): DeliveryKey {
  return { pk: objectPk(ref), sk: `destination#${destination}` };
}

export function routeKey(ref: ObjectRef): DeliveryKey {
  return { pk: objectPk(ref), sk: 'route' };
}

/** Restream request ids: short, URL- and key-safe (they are part of a record's sort key). */
export const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * A restream's new delivery of an object version to a destination: its own record beside the earlier ones
 * (whose history stays), linked to the operator's request by its sort key.
 */
export function restreamKey(ref: ObjectRef, destination: string, requestId: string): DeliveryKey {
  return { pk: objectPk(ref), sk: `restream#${requestId}#${destination}` };
}

/** The destination a record's sort key names (`destination#<name>` or `restream#<request>#<name>`). */
export function destinationOfSk(sk: string | undefined): string | undefined {
  if (sk?.startsWith('destination#')) return sk.slice('destination#'.length);
  if (sk?.startsWith('restream#')) {
    const at = sk.indexOf('#', 'restream#'.length);
    return at > 0 ? sk.slice(at + 1) : undefined;
  }
  return undefined;
}

/** The restream request a record belongs to, if it is a restream's delivery. */
export function restreamOfSk(sk: string | undefined): string | undefined {
  if (!sk?.startsWith('restream#')) return undefined;
  const at = sk.indexOf('#', 'restream#'.length);
  return at > 0 ? sk.slice('restream#'.length, at) : undefined;
}

/** A compact, URL-safe id of a delivery (used in checkpoints, logs and callback tokens). */
export function encodeDeliveryId(key: DeliveryKey): string {
  return Buffer.from(`${key.pk}\n${key.sk}`, 'utf8').toString('base64url');
}

export function decodeDeliveryId(id: string): DeliveryKey | undefined {
  const text = Buffer.from(id, 'base64url').toString('utf8');
  const nl = text.lastIndexOf('\n');
  if (nl <= 0) return undefined;
  const pk = text.slice(0, nl);
  const sk = text.slice(nl + 1);
  if (!pk.startsWith('object#') || !(destinationOfSk(sk) !== undefined || sk === 'route')) return undefined;
  return { pk, sk };
}

/** The message the router (or the poller, releasing held deliveries) puts on a vendor queue. */
export interface DeliveryMessage {
  v: 1;
  pk: string;
  sk: string;
  destination: string;
  vendor: string;
  object: ObjectRef;
  fields: JsonObject;
  /** What ops query by, so that a forwarder can write the record if the router's write was lost. */
  serialNumber?: string;
  asset?: string;
  streamType?: string;
  /** Whether the router found the stream's sidecar (for a record written from the message). */
  sidecar?: 'used' | 'missing' | 'none';
  /** The one delivery a paused destination sends to see whether it works again. */
  probe?: true;
}

/**
 * A message body SQS accepts whatever the key holds. SQS allows only #x9 #xA #xD #x20–#xD7FF #xE000–#xFFFD
 * #x10000–#x10FFFF in a body (an S3 key may hold U+FFFF; emulators refuse more), so every character outside
 * printable ASCII is written as a JSON \u escape: the body is pure ASCII and JSON.parse gives back the exact key.
 */
export function sqsSafeJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[^\x20-\x7e]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/**
 * The largest message body the relay's queues take: SQS's MaximumMessageSize, left at its default of 256 KiB
 * (262,144 bytes) by the stack, which is also the most one SendMessageBatch may carry in all.
 */
export const MAX_MESSAGE_BYTES = 262_144;

/**
 * The longest visibility a received message may be given: SQS caps a message's *total* visibility at 12 h from
 * its receive ("Total VisibilityTimeout for the message is beyond the limit"), and the handler asking may have run
 * up to Lambda's 15 minutes since. So it is also the longest a retry can wait in the queue: the backoff clamps its
 * delays to it (domain/backoff.ts), and the SQS adapter never asks more.
 */
export const MAX_VISIBILITY_SECONDS = 43_200 - 900;

export function parseDeliveryMessage(body: string): DeliveryMessage | undefined {
  try {
    const m = JSON.parse(body) as Partial<DeliveryMessage>;
    if (
      m.v === 1 &&
      typeof m.pk === 'string' &&
      typeof m.sk === 'string' &&
      typeof m.destination === 'string' &&
      typeof m.vendor === 'string' &&
      m.object &&
      typeof m.object.bucket === 'string' &&
      typeof m.object.key === 'string' &&
      m.fields &&
      typeof m.fields === 'object' &&
      (m.probe === undefined || m.probe === true)
    ) {
      return m as DeliveryMessage;
    }
  } catch {
    // fall through
  }
  return undefined;
}

/** The object version a record is about. */
export function objectOf(
  rec: Pick<DeliveryRecord, 'bucket' | 'key' | 'versionId' | 'etag' | 'size'>,
): ObjectRef {
  return {
    bucket: rec.bucket,
    key: rec.key,
    etag: rec.etag,
    size: rec.size,
    ...(rec.versionId ? { versionId: rec.versionId } : {}),
  };
}

/** The queue message that (re)starts a recorded delivery: the poller releasing a held one, the sweeper. */
export function messageFor(rec: DeliveryRecord, extra: { probe?: true } = {}): DeliveryMessage | undefined {
  if (!rec.destination || !rec.vendor) return undefined;
  return {
    v: 1,
    pk: rec.pk,
    sk: rec.sk,
    destination: rec.destination,
    vendor: rec.vendor,
    object: objectOf(rec),
    fields: rec.fields ?? {},
    ...(rec.serialNumber ? { serialNumber: rec.serialNumber } : {}),
    ...(rec.asset ? { asset: rec.asset } : {}),
    ...(rec.streamType ? { streamType: rec.streamType } : {}),
    ...(rec.sidecar ? { sidecar: rec.sidecar } : {}),
    ...extra,
  };
}

// ---------------------------------------------------------------------------------------------------------
// The stored form: what the record's key already says is not stored again, and history entries are compact
// strings, so that a record stays well under DynamoDB's 1 KB write unit (every write is billed by its size).

/** The object version and destination a record's keys name (`pk` is `object#<bucket>/<key>#<version>`). */
export function keyParts(
  pk: string | undefined,
  sk: string | undefined,
): { bucket: string; key: string; versionId?: string; destination?: string } | undefined {
  if (typeof pk !== 'string' || !pk.startsWith('object#')) return undefined;
  const hash = pk.lastIndexOf('#');
  const body = pk.slice('object#'.length, hash);
  const version = pk.slice(hash + 1);
  const slash = body.indexOf('/');
  if (hash <= 'object#'.length || slash < 0) return undefined;
  return {
    bucket: body.slice(0, slash),
    key: body.slice(slash + 1),
    ...(version.startsWith('v=') ? { versionId: version.slice(2) } : {}),
    ...(destinationOfSk(sk) !== undefined ? { destination: destinationOfSk(sk) } : {}),
  };
}

/** `2026-11-30T12:00:00.000Z SENDING LEASE_EXPIRED`: one history entry as stored. */
export function historyText(e: HistoryEntry): string {
  return e.code ? `${e.at} ${e.status} ${e.code}` : `${e.at} ${e.status}`;
}

function historyEntry(v: unknown): HistoryEntry {
  if (typeof v !== 'string') return v as HistoryEntry;
  const [at = '', status = 'NOTICE', code] = v.split(' ');
  return code
    ? { at, status: status as HistoryEntry['status'], code }
    : { at, status: status as HistoryEntry['status'] };
}

/** The item a record is stored as: without what its keys say, history as text. */
export function toItem(rec: Record<string, unknown>): Record<string, unknown> {
  const { bucket: _b, key: _k, versionId: _v, destination: _d, history, ...rest } = rec;
  return Array.isArray(history) ? { ...rest, history: (history as HistoryEntry[]).map(historyText) } : rest;
}

/** A stored item as a record: what its keys say put back, history entries parsed. */
export function fromItem<T extends { pk: string; sk: string }>(item: T): T {
  const parts = keyParts(item.pk, item.sk);
  const history = (item as { history?: unknown }).history;
  return {
    ...(parts ?? {}),
    ...item,
    ...(Array.isArray(history) ? { history: history.map(historyEntry) } : {}),
  };
}

/** Whether a delivery's object version is the key's current one: by version id where both have one, else ETag. */
export function sameVersion(
  ref: Pick<ObjectRef, 'versionId' | 'etag'>,
  current: { versionId?: string; etag: string },
): boolean {
  const versioned = ref.versionId && ref.versionId !== 'null';
  if (versioned && current.versionId) return ref.versionId === current.versionId;
  return ref.etag.replace(/"/g, '') === current.etag;
}
