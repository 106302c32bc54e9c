/**
 * The router: S3 event notification → one delivery per (object version × destination), each recorded before
 * it is queued. Nothing is dropped silently: an unmatched key, missing metadata or a malformed sidecar is a
 * record with a status and a reason.
 */

import { errorMessage, recorded } from '#commons/errors.ts';
import type { Logger } from '#commons/logger.ts';
import { splitName } from '#commons/media.ts';
import { decodeS3EventKey } from '#commons/s3-key.ts';
import {
  destinationsFor,
  ignoredBy,
  matchStream,
  type SidecarOwner,
  sidecarKeyFor,
  sidecarOwner,
  sidecarWaitMs,
} from '#domain/config/match.ts';
import {
  type MissingValue,
  missingRequired,
  renderTemplates,
  resolveTimeZone,
  type TemplateContext,
} from '#domain/config/template.ts';
import type { DataTransmit, RelayConfig, StreamConfig } from '#domain/config/types.ts';
import { fieldsValidator } from '#fields-validators';
import type { JsonObject, JsonValue, ObjectRef, VendorPlugin } from '#vendors/types.ts';
import {
  type DeliveryKey,
  type DeliveryMessage,
  type DeliveryRecord,
  deliveryKey,
  MAX_MESSAGE_BYTES,
  type NewDelivery,
  objectPk,
  REQUEST_ID,
  restreamKey,
  routeKey,
  sqsSafeJson,
} from './delivery.ts';
import type { RecordedError } from './status.ts';

export interface ObjectHeadInfo {
  size: number;
  etag: string;
  contentType?: string;
  metadata: Record<string, string>;
  lastModified?: string;
  versionId?: string;
}

export interface RouterPorts {
  describe(ref: Pick<ObjectRef, 'bucket' | 'key' | 'versionId'>): Promise<ObjectHeadInfo | undefined>;
  readSmall(
    bucket: string,
    key: string,
    maxBytes: number,
  ): Promise<{ kind: 'found'; text: string } | { kind: 'missing' } | { kind: 'too-large'; size: number }>;
  createDelivery(rec: NewDelivery): Promise<{ created: boolean; record: DeliveryRecord }>;
  send(queueUrl: string, messages: Array<{ id: string; body: string }>): Promise<void>;
  /** Every record of one object version. */
  forObject(pk: string): Promise<DeliveryRecord[]>;
  addNotice(key: DeliveryKey, notice: RecordedError): Promise<unknown>;
  /** Keys under a prefix (at most `max`): finding the file of a `replace`-mode sidecar. */
  listKeys(bucket: string, prefix: string, max: number): Promise<string[]>;
}

export interface RouterDeps {
  config: RelayConfig;
  vendors: Readonly<Record<string, VendorPlugin>>;
  queueUrls: Readonly<Record<string, string>>;
  ports: RouterPorts;
  log: Logger;
  /** Largest sidecar read, in bytes (default 256 KiB). */
  maxSidecarBytes?: number;
  /** How long a sidecar without its file is waited for before it is recorded (default 60 s). */
  orphanSidecarWaitMs?: number;
  /** A RECEIVED delivery the router could not queue is queued by the poller's sweeper after this (default 2 min). */
  sweepAfterMs?: number;
  now?: () => number;
}

/** The outcome for one SQS message: done, or try again later (a required sidecar is not there yet). */
export type RouteResult =
  | { kind: 'done'; deliveries: number }
  | { kind: 'wait'; delayMs: number; reason: string };

interface S3EventRecord {
  eventName?: string;
  eventTime?: string;
  s3?: {
    bucket?: { name?: string };
    object?: { key?: string; size?: number; eTag?: string; versionId?: string };
  };
}

export class MalformedEventError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MalformedEventError';
  }
}

/** Parses an ingest message. `s3:TestEvent` (sent when a notification is configured) yields no records. */
export function parseS3Event(body: string): S3EventRecord[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new MalformedEventError('message body is not JSON');
  }
  const obj = parsed as { Records?: unknown; Event?: unknown };
  if (obj && obj.Event === 's3:TestEvent') return [];
  if (!obj || !Array.isArray(obj.Records))
    throw new MalformedEventError('message is not an S3 event notification');
  return obj.Records as S3EventRecord[];
}

/**
 * An operator's restream (lambdas/domain/ops/restream.ts) puts an S3 event of the object version on the
 * ingest queue with this beside `Records`: the router routes it with the current config, as a new delivery
 * per destination (sk `restream#<requestId>#<destination>`) beside the earlier records.
 */
export interface RestreamMark {
  requestId: string;
  /** Only these destinations (default: every destination the config routes the stream to). */
  destinations?: string[];
}

export const RESTREAM_FIELD = 'relayRestream';

function restreamOf(body: string): RestreamMark | undefined {
  try {
    const m = (JSON.parse(body) as Record<string, unknown>)[RESTREAM_FIELD] as RestreamMark | undefined;
    if (!m || typeof m.requestId !== 'string' || !REQUEST_ID.test(m.requestId)) return undefined;
    const destinations = Array.isArray(m.destinations)
      ? m.destinations.filter((d): d is string => typeof d === 'string')
      : undefined;
    return { requestId: m.requestId, ...(destinations ? { destinations } : {}) };
  } catch {
    return undefined;
  }
}

function stringAt(v: JsonValue | undefined): string | undefined {
  return typeof v === 'string' && v ? v : undefined;
}

/** The unit serial for the by-serial index: the vendor field if there is one, else a key part named so. */
function serialOf(fields: JsonObject, parts: Record<string, string>): string | undefined {
  return (
    stringAt(fields.serialNumber) ?? stringAt(fields.serial) ?? parts.serial ?? parts.serialNumber ?? parts.sn
  );
}

export async function routeMessage(body: string, deps: RouterDeps): Promise<RouteResult> {
  const records = parseS3Event(body);
  const restream = restreamOf(body);
  let deliveries = 0;
  for (const r of records) {
    const res = await routeRecord(r, deps, restream);
    if (res.kind === 'wait') return res;
    deliveries += res.deliveries;
  }
  return { kind: 'done', deliveries };
}

async function routeRecord(
  r: S3EventRecord,
  deps: RouterDeps,
  restream?: RestreamMark,
): Promise<RouteResult> {
  const { config, ports, log } = deps;
  if (!r.eventName?.startsWith('ObjectCreated:')) {
    log.info('ignoring a non-create event', { eventName: r.eventName });
    return { kind: 'done', deliveries: 0 };
  }
  const bucket = r.s3?.bucket?.name;
  const rawKey = r.s3?.object?.key;
  if (!bucket || rawKey === undefined)
    throw new MalformedEventError('S3 record without bucket name or object key');
  const key = decodeS3EventKey(rawKey);
  const ref: ObjectRef = {
    bucket,
    key,
    etag: (r.s3?.object?.eTag ?? '').replace(/"/g, ''),
    size: r.s3?.object?.size ?? 0,
  };
  if (r.s3?.object?.versionId) ref.versionId = r.s3.object.versionId;

  if (key.endsWith('/') && ref.size === 0) {
    log.info('ignoring a folder marker', { bucket, key });
    return { kind: 'done', deliveries: 0 };
  }
  const now = deps.now ?? Date.now;
  const arrivedAt = Date.parse(r.eventTime ?? '') || now();
  // Keys are matched and rendered in Unicode NFC (a macOS export writes them NFD); `key` stays the real key:
  // every S3 read and every record's `key` name the object as it is.
  const nfcKey = key.normalize('NFC');
  const base = {
    bucket,
    key,
    etag: ref.etag,
    size: ref.size,
    ...(ref.versionId ? { versionId: ref.versionId } : {}),
  };
  const match = matchStream(config, bucket, key);
  const ignored = match ? undefined : ignoredBy(config, bucket, key);
  if (ignored) {
    // Sync-tool and editor leftovers: never sent, and recorded (a success, not an unrouted key) so that ops can
    // see why a file they look for was not delivered.
    await ports.createDelivery({
      ...routeKey(ref),
      ...base,
      status: 'SKIPPED',
      notice: recorded(
        'IGNORED_KEY',
        `"${key}" matches ignore glob ${ignored.glob} of receiver ${ignored.receiver.data_receiver_name}: not sent`,
      ),
    });
    log.info('ignored key', { bucket, key, glob: ignored.glob });
    return { kind: 'done', deliveries: 0 };
  }
  const owner = sidecarOwner(config, key, bucket);
  // A restream re-sends files; a sidecar is read again with its file.
  if (owner) return restream ? { kind: 'done', deliveries: 0 } : sidecarArrived(ref, owner, arrivedAt, deps);

  if (!match) {
    // An NFD key prints like its NFC form: say so, or the message looks as if it should have matched.
    const form =
      nfcKey === key
        ? ''
        : ` (the key is not in Unicode NFC, as macOS writes names; it was compared in its NFC form "${nfcKey}")`;
    await ports.createDelivery({
      ...routeKey(ref),
      ...base,
      status: 'UNROUTED',
      lastError: recorded(
        'NO_MATCHING_STREAM',
        `no stream's key_pattern matches "${key}" in bucket ${bucket}${form}`,
      ),
    });
    log.warn('unrouted object', { bucket, key });
    return { kind: 'done', deliveries: 0 };
  }
  const { stream } = match;
  const transmits = destinationsFor(config, stream).filter(
    (t) => !restream?.destinations || restream.destinations.includes(t.transmit_name),
  );
  const keyOf = (name: string) =>
    restream ? restreamKey(ref, name, restream.requestId) : deliveryKey(ref, name);
  // What ops find a record by, on every record the router writes for this key, accepted or not.
  const serialFromKey = serialOf({}, match.parts);
  const streamInfo = {
    asset: stream.asset,
    streamType: stream.stream_type,
    ...(serialFromKey ? { serialNumber: serialFromKey } : {}),
  };
  if (transmits.length === 0) {
    await ports.createDelivery({
      ...routeKey(ref),
      ...base,
      ...streamInfo,
      status: 'UNROUTED',
      lastError: recorded(
        'NO_DESTINATION',
        `stream ${stream.asset}:${stream.stream_type} matched, but no enabled data_transmit takes it`,
      ),
    });
    return { kind: 'done', deliveries: 0 };
  }

  /** Records every destination's delivery settled before anything is queued: REJECTED, or SKIPPED with a notice. */
  const settleAll = async (
    outcome: { status: 'REJECTED'; lastError: RecordedError } | { status: 'SKIPPED'; notice: RecordedError },
  ) => {
    for (const t of transmits) {
      await ports.createDelivery({
        ...keyOf(t.transmit_name),
        ...base,
        ...streamInfo,
        destination: t.transmit_name,
        vendor: t.transmit_type,
        ...outcome,
      });
    }
    return { kind: 'done', deliveries: 0 } as const;
  };
  const rejectAll = (error: RecordedError) => {
    log.warn('object rejected for every destination', { bucket, key, code: error.code });
    return settleAll({ status: 'REJECTED', lastError: error });
  };

  const head = await ports.describe(ref);
  if (!head) return rejectAll(recorded('OBJECT_NOT_FOUND', `s3://${bucket}/${key} no longer exists`));
  if (!ref.versionId && ref.etag && head.etag !== ref.etag) {
    // An unversioned bucket, and the key was uploaded again since this event: the newer content has its own
    // event and deliveries. This one's bytes are gone; nothing is sent for it, and that is not a failure.
    log.info('object replaced before routing: skipped', { bucket, key });
    return settleAll({
      status: 'SKIPPED',
      notice: recorded(
        'OBJECT_SUPERSEDED',
        `s3://${bucket}/${key} was replaced (ETag ${head.etag}, this event's ${ref.etag}) before it was routed; the newer upload is delivered on its own`,
      ),
    });
  }

  const sidecar = await loadSidecar(stream, ref, arrivedAt, deps);
  if (sidecar.kind === 'wait') return sidecar;
  if (sidecar.kind === 'error') return rejectAll(sidecar.error);
  const sidecarState = sidecar.kind === 'found' ? 'used' : sidecar.kind === 'missing' ? 'missing' : 'none';

  const ctx: TemplateContext = {
    parts: match.parts,
    meta: nfcStrings(head.metadata),
    // The real key, byte for byte: `{object.key}` names the object to a vendor that reads it from the bucket
    // (V7 External Storage's storage_key), and `{object.basename}` is the file's own name. Key parts, the
    // sidecar and metadata are NFC: the text a user types when looking for it.
    object: {
      key,
      bucket,
      ...splitName(key),
      size: ref.size,
      etag: ref.etag,
      version_id: ref.versionId ?? '',
      last_modified: head.lastModified ?? '',
    },
    stream: { asset: stream.asset, stream_type: stream.stream_type },
    vars: stream.vars ?? {},
  };
  if (sidecar.kind === 'found') ctx.sidecar = nfcStrings(sidecar.value);
  // The stream's zone first: the fields read it ({stream.time_zone}, iso8601 of a time without an offset).
  ctx.timeZone = resolveTimeZone(stream.time_zone, ctx);

  const missing = missingRequired(stream.required, ctx);
  if (missing.length > 0) {
    return rejectAll(
      recorded(
        'MISSING_METADATA',
        `required metadata not found for this object: ${missing.map((m) => `${m.name} (${m.reason})`).join(', ')}`,
      ),
    );
  }

  // The object's records so far: a duplicate event (or a retried one) finds them and queues nothing again.
  const existing = new Set((await ports.forObject(objectPk(ref))).map((r) => r.sk));
  const batches = new Map<string, Array<{ record: NewDelivery; body: string }>>();
  let deliveries = 0;
  for (const t of transmits) {
    const plugin = deps.vendors[t.transmit_type];
    const dk = keyOf(t.transmit_name);
    if (existing.has(dk.sk)) {
      log.info('duplicate event: delivery already recorded', { bucket, key, destination: t.transmit_name });
      continue;
    }
    const common = {
      ...dk,
      ...base,
      ...streamInfo,
      destination: t.transmit_name,
      vendor: t.transmit_type,
    };
    const queueUrl = deps.queueUrls[t.transmit_type];
    if (!plugin || !queueUrl) {
      await ports.createDelivery({
        ...common,
        status: 'REJECTED',
        lastError: recorded(
          'UNKNOWN_VENDOR',
          `no forwarder is deployed for transmit_type ${t.transmit_type}`,
        ),
      });
      continue;
    }
    const built = buildFields(t, plugin, ctx);
    if ('error' in built) {
      await ports.createDelivery({ ...common, status: 'REJECTED', lastError: built.error });
      log.warn('delivery rejected at routing', {
        bucket,
        key,
        destination: t.transmit_name,
        code: built.error.code,
      });
      continue;
    }
    const serialNumber = serialOf(built.fields, match.parts);
    const message: DeliveryMessage = {
      v: 1,
      pk: dk.pk,
      sk: dk.sk,
      destination: t.transmit_name,
      vendor: t.transmit_type,
      object: ref,
      fields: built.fields,
      asset: stream.asset,
      streamType: stream.stream_type,
      sidecar: sidecarState,
      ...(serialNumber ? { serialNumber } : {}),
    };
    const body = sqsSafeJson(message);
    if (body.length > MAX_MESSAGE_BYTES) {
      // Fields copied from a large sidecar: SQS would refuse the message on every try. Recorded without them.
      const error = recorded(
        'FIELDS_TOO_LARGE',
        `the delivery's fields make a ${body.length}-byte queue message; the queue takes ${MAX_MESSAGE_BYTES} (shorten the templates that copy large sidecar values)`,
      );
      await ports.createDelivery({ ...common, status: 'REJECTED', lastError: error });
      log.warn('delivery rejected at routing', {
        bucket,
        key,
        destination: t.transmit_name,
        code: error.code,
      });
      continue;
    }
    const list = batches.get(queueUrl) ?? [];
    list.push({
      record: {
        ...common,
        status: 'QUEUED',
        fields: built.fields,
        sidecar: sidecarState,
        ...(serialNumber ? { serialNumber } : {}),
      },
      body,
    });
    batches.set(queueUrl, list);
  }
  // Queued first, recorded next: one write per delivery. A forwarder faster than the write records it from
  // the message; a router that dies between the two leaves the message, and the forwarder does the same.
  for (const [queueUrl, list] of batches) {
    try {
      await ports.send(
        queueUrl,
        list.map((m) => ({ id: m.record.sk, body: m.body })),
      );
    } catch (err) {
      // Nothing was queued: record each delivery RECEIVED with why (the poller's sweeper queues it), then let
      // the event come back.
      const error = recorded('QUEUE_SEND_FAILED', `could not queue the delivery: ${errorMessage(err)}`);
      const retryAt = new Date(now() + (deps.sweepAfterMs ?? 120_000)).toISOString();
      for (const m of list)
        await ports.createDelivery({
          ...m.record,
          status: 'RECEIVED',
          lastError: error,
          nextCheckAt: retryAt,
        });
      throw err;
    }
    for (const m of list) await ports.createDelivery(m.record);
    deliveries += list.length;
  }
  return { kind: 'done', deliveries };
}

/**
 * A sidecar arrived. With its file already routed without it, the delivery records say so (SIDECAR_LATE): the
 * vendor got the config's defaults. With no file yet, it waits a while for the file (sync order), then is
 * recorded itself (SIDECAR_WITHOUT_FILE), so that an upload that lost its file is not invisible.
 */
async function sidecarArrived(
  ref: ObjectRef,
  owner: SidecarOwner,
  arrivedAt: number,
  deps: RouterDeps,
): Promise<RouteResult> {
  const { ports, log } = deps;
  const now = deps.now ?? Date.now;
  const fileKeys = owner.fileKey
    ? [owner.fileKey]
    : (await ports.listKeys(ref.bucket, owner.filePrefix ?? '', 20)).filter((k) => k !== ref.key);
  let found = false;
  for (const fileKey of fileKeys) {
    const head = await ports.describe({ bucket: ref.bucket, key: fileKey });
    if (!head) continue;
    found = true;
    const records = await ports.forObject(
      objectPk({
        bucket: ref.bucket,
        key: fileKey,
        etag: head.etag,
        ...(head.versionId ? { versionId: head.versionId } : {}),
      }),
    );
    for (const rec of records) {
      if (rec.sidecar !== 'missing') continue;
      await ports.addNotice(
        rec,
        recorded(
          'SIDECAR_LATE',
          `sidecar ${ref.key} arrived after the file was routed without it; the delivery used the config's defaults`,
        ),
      );
      log.warn('sidecar arrived after its file was routed', {
        bucket: ref.bucket,
        key: fileKey,
        destination: rec.destination,
      });
    }
  }
  if (found) return { kind: 'done', deliveries: 0 };
  const waitMs = deps.orphanSidecarWaitMs ?? 60_000;
  const left = arrivedAt + waitMs - now();
  if (left > 0)
    return {
      kind: 'wait',
      delayMs: Math.min(left, waitStepMs(waitMs)),
      reason: `waiting for the file of sidecar ${ref.key}`,
    };
  await ports.createDelivery({
    ...routeKey(ref),
    bucket: ref.bucket,
    key: ref.key,
    etag: ref.etag,
    size: ref.size,
    ...(ref.versionId ? { versionId: ref.versionId } : {}),
    asset: owner.stream.asset,
    streamType: owner.stream.stream_type,
    status: 'UNROUTED',
    lastError: recorded(
      'SIDECAR_WITHOUT_FILE',
      `sidecar ${ref.key} arrived but its file ${owner.fileKey ?? `${owner.filePrefix}*`} did not within ${Math.round(waitMs / 1000)} s`,
    ),
  });
  log.warn('sidecar without its file', { bucket: ref.bucket, key: ref.key });
  return { kind: 'done', deliveries: 0 };
}

/**
 * Waits for a sidecar (or a sidecar's file) happen by putting the S3 event back on the ingest queue, and each
 * return spends one of its receives (5 before its dead-letter queue). So a wait is looked at every 30 s, or in
 * at most SIDECAR_WAIT_STEPS steps when it is longer: `wait_seconds: 900` (the schema's maximum) is then 3
 * returns of 300 s, and the event's last receive still decides, with one to spare for a transient failure.
 * Looking every 30 s whatever the wait sent the events of a 5-minute wait to the dead-letter queue unrecorded.
 */
export const SIDECAR_WAIT_STEPS = 3;
export function waitStepMs(waitMs: number): number {
  return Math.max(30_000, Math.ceil(waitMs / SIDECAR_WAIT_STEPS));
}

type SidecarResult =
  | { kind: 'none' }
  | { kind: 'missing' }
  | { kind: 'found'; value: JsonValue }
  | { kind: 'wait'; delayMs: number; reason: string }
  | { kind: 'error'; error: RecordedError };

async function loadSidecar(
  stream: StreamConfig,
  ref: ObjectRef,
  arrivedAt: number,
  deps: RouterDeps,
): Promise<SidecarResult> {
  if (!stream.sidecar) return { kind: 'none' };
  const sidecarKey = sidecarKeyFor(stream, ref.key);
  if (!sidecarKey) return { kind: 'none' };
  const max = deps.maxSidecarBytes ?? 256 * 1024;
  const got = await deps.ports.readSmall(ref.bucket, sidecarKey, max);
  if (got.kind === 'too-large') {
    return {
      kind: 'error',
      error: recorded('SIDECAR_TOO_LARGE', `sidecar ${sidecarKey} is ${got.size} bytes; the limit is ${max}`),
    };
  }
  if (got.kind === 'missing') {
    // A sync tool uploads in its own order: wait a bounded time after the file arrived, even for an optional
    // sidecar (one that comes later still is recorded as SIDECAR_LATE on the delivery).
    const waitMs = sidecarWaitMs(stream.sidecar);
    const left = arrivedAt + waitMs - (deps.now ?? Date.now)();
    if (left > 0) {
      return {
        kind: 'wait',
        delayMs: Math.min(left, waitStepMs(waitMs)),
        reason: `waiting for sidecar ${sidecarKey}`,
      };
    }
    if (!stream.sidecar.required) return { kind: 'missing' };
    return {
      kind: 'error',
      error: recorded(
        'MISSING_SIDECAR',
        `required sidecar ${sidecarKey} did not arrive within ${Math.round(waitMs / 1000)} s of the file`,
      ),
    };
  }
  // Windows tools write a byte-order mark (Notepad, PowerShell 7) or UTF-16 (PowerShell 5's Out-File): the
  // mark is not part of the JSON; UTF-16 read as UTF-8 is full of NULs and gets a message that says what it is.
  const text = got.text.replace(/^\uFEFF/, '');
  if (text.includes('\u0000'))
    return {
      kind: 'error',
      error: recorded(
        'MALFORMED_SIDECAR',
        `sidecar ${sidecarKey} is not UTF-8 (it holds NUL bytes: UTF-16, as PowerShell 5's Out-File writes?); write it as UTF-8`,
      ),
    };
  try {
    return { kind: 'found', value: JSON.parse(text) as JsonValue };
  } catch (err) {
    return {
      kind: 'error',
      error: recorded('MALFORMED_SIDECAR', `sidecar ${sidecarKey} is not valid JSON: ${errorMessage(err)}`),
    };
  }
}

/** Where a template value sits, as a JSON pointer (`/imageTimestamp/iso8601Time`). */
const pointer = (m: MissingValue) => `/${m.json_path.join('/')}`;

/** Values that were there but unusable, by cause, and the code each is recorded with. */
const INVALID_CAUSES = [
  ['invalid-timestamp', 'INVALID_TIMESTAMP'],
  ['invalid-time-zone', 'INVALID_TIME_ZONE'],
] as const;

/**
 * Renders a destination's fields and checks them against the vendor's fields schema. One code per cause:
 * INVALID_TIMESTAMP (a time that does not parse, in any field), INVALID_TIME_ZONE (a zone that is not an
 * IANA zone), INVALID_FIELDS (a value of the wrong shape for the schema), MISSING_METADATA (only required
 * values that no source gave).
 */
function buildFields(
  t: DataTransmit,
  plugin: VendorPlugin,
  ctx: TemplateContext,
): { fields: JsonObject } | { error: RecordedError } {
  const rendered = renderTemplates(t.fields, ctx);
  const fail = (code: string, problems: string[]) => ({
    error: recorded(code, `${plugin.displayName} fields: ${problems.join('; ')}`),
  });
  for (const [cause, code] of INVALID_CAUSES) {
    const bad = rendered.missing.filter((m) => m.cause === cause);
    if (bad.length > 0)
      return fail(
        code,
        bad.map((m) => `${pointer(m)}: ${m.reason}`),
      );
  }
  // Precompiled in a bundle (no schema compilation in a Lambda); compiled on first use in tests and locally.
  const validate = fieldsValidator(plugin);
  const value = rendered.value;
  if (validate(value)) return { fields: value };
  let shape = false;
  const problems = (validate.errors ?? []).map((e) => {
    const missingProp =
      e.keyword === 'required' ? (e.params as { missingProperty?: string }).missingProperty : undefined;
    const where = missingProp !== undefined ? `${e.instancePath}/${missingProp}` : e.instancePath || '/';
    // Absent: a required property that a template left out (it, or everything under it, did not resolve).
    const why =
      missingProp === undefined
        ? []
        : rendered.missing.filter((m) => pointer(m) === where || pointer(m).startsWith(`${where}/`));
    if (why.length === 0) shape = true;
    return why.length > 0
      ? `${where}: ${why.map((m) => m.reason).join('; ')}`
      : `${where} ${e.message ?? 'is invalid'}`;
  });
  return fail(shape ? 'INVALID_FIELDS' : 'MISSING_METADATA', problems);
}

/** Every string of a JSON value (object keys too) in Unicode NFC: sidecar and metadata values written on a Mac. */
function nfcStrings<T extends JsonValue>(v: T): T;
function nfcStrings(v: JsonValue): JsonValue {
  if (typeof v === 'string') return v.normalize('NFC');
  if (Array.isArray(v)) return v.map(nfcStrings);
  if (v !== null && typeof v === 'object')
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k.normalize('NFC'), nfcStrings(x)]));
  return v;
}
