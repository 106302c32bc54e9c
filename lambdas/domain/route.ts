/**
 * The router: S3 event notification → one delivery per (object version × destination), each recorded before
 * it is queued. Nothing is dropped silently: an unmatched key, missing metadata or a malformed sidecar is a
 * record with a status and a reason.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import { errorMessage, recorded } from '#commons/errors.ts';
import type { Logger } from '#commons/logger.ts';
import { splitName } from '#commons/media.ts';
import { decodeS3EventKey } from '#commons/s3-key.ts';
import {
  destinationsFor,
  isSidecarKey,
  type MissingValue,
  matchStream,
  missingRequired,
  renderTemplates,
  resolveTimeZone,
  sidecarKeyFor,
  type TemplateContext,
} from '#domain/config/index.ts';
import type { DataTransmit, RelayConfig, StreamConfig } from '#domain/config/types.ts';
import type { JsonObject, JsonValue, ObjectRef, VendorPlugin } from '#vendors/types.ts';
import {
  type DeliveryKey,
  type DeliveryMessage,
  type DeliveryRecord,
  deliveryKey,
  type NewDelivery,
  routeKey,
} from './delivery.ts';
import type { DeliveryStatus, RecordedError } from './status.ts';

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
  markQueued(key: DeliveryKey, destination: string): Promise<void>;
  send(queueUrl: string, messages: Array<{ id: string; body: string }>): Promise<void>;
}

export interface RouterDeps {
  config: RelayConfig;
  vendors: Readonly<Record<string, VendorPlugin>>;
  queueUrls: Readonly<Record<string, string>>;
  ports: RouterPorts;
  log: Logger;
  /** How many receives of one event to wait for a required sidecar that has not arrived (default 5). */
  sidecarWaitReceives?: number;
  /** Largest sidecar read, in bytes (default 256 KiB). */
  maxSidecarBytes?: number;
}

/** The outcome for one SQS message: done, or try again later (a required sidecar is not there yet). */
export type RouteResult =
  | { kind: 'done'; deliveries: number }
  | { kind: 'wait'; delayMs: number; reason: string };

interface S3EventRecord {
  eventName?: string;
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

const validators = new WeakMap<VendorPlugin, ValidateFunction>();
const ajv = new Ajv({ allErrors: true, strict: false });

function validatorFor(plugin: VendorPlugin): ValidateFunction {
  let v = validators.get(plugin);
  if (!v) {
    v = ajv.compile(plugin.fieldsSchema);
    validators.set(plugin, v);
  }
  return v;
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

export async function routeMessage(
  body: string,
  receiveCount: number,
  deps: RouterDeps,
): Promise<RouteResult> {
  const records = parseS3Event(body);
  let deliveries = 0;
  for (const r of records) {
    const res = await routeRecord(r, receiveCount, deps);
    if (res.kind === 'wait') return res;
    deliveries += res.deliveries;
  }
  return { kind: 'done', deliveries };
}

async function routeRecord(r: S3EventRecord, receiveCount: number, deps: RouterDeps): Promise<RouteResult> {
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
  if (isSidecarKey(config, key)) {
    log.debug('sidecar object: read with its file, not routed', { bucket, key });
    return { kind: 'done', deliveries: 0 };
  }

  const base = {
    bucket,
    key,
    etag: ref.etag,
    size: ref.size,
    ...(ref.versionId ? { versionId: ref.versionId } : {}),
  };
  const match = matchStream(config, bucket, key);
  if (!match) {
    await ports.createDelivery({
      ...routeKey(ref),
      ...base,
      status: 'UNROUTED',
      lastError: recorded(
        'NO_MATCHING_STREAM',
        `no stream's key_pattern matches "${key}" in bucket ${bucket}`,
      ),
    });
    log.warn('unrouted object', { bucket, key });
    return { kind: 'done', deliveries: 0 };
  }
  const { stream } = match;
  const transmits = destinationsFor(config, stream);
  const streamInfo = { asset: stream.asset, streamType: stream.stream_type };
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

  const rejectAll = async (error: RecordedError) => {
    for (const t of transmits) {
      await ports.createDelivery({
        ...deliveryKey(ref, t.transmit_name),
        ...base,
        ...streamInfo,
        destination: t.transmit_name,
        vendor: t.transmit_type,
        status: 'REJECTED',
        lastError: error,
      });
    }
    log.warn('object rejected for every destination', { bucket, key, code: error.code });
    return { kind: 'done', deliveries: 0 } as const;
  };

  const head = await ports.describe(ref);
  if (!head) return rejectAll(recorded('OBJECT_NOT_FOUND', `s3://${bucket}/${key} no longer exists`));

  const sidecar = await loadSidecar(stream, ref, receiveCount, deps);
  if (sidecar.kind === 'wait') return sidecar;
  if (sidecar.kind === 'error') return rejectAll(sidecar.error);

  const ctx: TemplateContext = {
    parts: match.parts,
    meta: head.metadata,
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
  if (sidecar.kind === 'found') ctx.sidecar = sidecar.value;
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

  const batches = new Map<string, Array<{ key: DeliveryKey; destination: string; body: string }>>();
  let deliveries = 0;
  for (const t of transmits) {
    const plugin = deps.vendors[t.transmit_type];
    const dk = deliveryKey(ref, t.transmit_name);
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
    const created = await ports.createDelivery({
      ...common,
      status: 'RECEIVED' as DeliveryStatus,
      fields: built.fields,
      ...(serialNumber ? { serialNumber } : {}),
    });
    // An existing record still RECEIVED means an earlier run stopped before queueing it: queue it now.
    if (!created.created && created.record.status !== 'RECEIVED') {
      log.info('duplicate event: delivery already recorded', {
        bucket,
        key,
        destination: t.transmit_name,
        status: created.record.status,
      });
      continue;
    }
    const message: DeliveryMessage = {
      v: 1,
      pk: dk.pk,
      sk: dk.sk,
      destination: t.transmit_name,
      vendor: t.transmit_type,
      object: ref,
      fields: created.created ? built.fields : (created.record.fields ?? built.fields),
    };
    const list = batches.get(queueUrl) ?? [];
    list.push({ key: dk, destination: t.transmit_name, body: JSON.stringify(message) });
    batches.set(queueUrl, list);
  }
  for (const [queueUrl, list] of batches) {
    await ports.send(
      queueUrl,
      list.map((m) => ({ id: m.key.sk, body: m.body })),
    );
    for (const m of list) await ports.markQueued(m.key, m.destination);
    deliveries += list.length;
  }
  return { kind: 'done', deliveries };
}

type SidecarResult =
  | { kind: 'none' }
  | { kind: 'found'; value: JsonValue }
  | { kind: 'wait'; delayMs: number; reason: string }
  | { kind: 'error'; error: RecordedError };

async function loadSidecar(
  stream: StreamConfig,
  ref: ObjectRef,
  receiveCount: number,
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
    if (!stream.sidecar.required) return { kind: 'none' };
    // A sync tool may upload the file before its sidecar: wait a few receives before giving up.
    const waits = deps.sidecarWaitReceives ?? 5;
    if (receiveCount < waits) {
      return {
        kind: 'wait',
        delayMs: 2_000 * 2 ** (receiveCount - 1),
        reason: `waiting for sidecar ${sidecarKey}`,
      };
    }
    return {
      kind: 'error',
      error: recorded(
        'MISSING_SIDECAR',
        `required sidecar ${sidecarKey} did not arrive after ${receiveCount} tries`,
      ),
    };
  }
  try {
    return { kind: 'found', value: JSON.parse(got.text) as JsonValue };
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
  const validate = validatorFor(plugin);
  if (validate(rendered.value)) return { fields: rendered.value };
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
