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
  status: DeliveryStatus;
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
  lastError?: RecordedError;
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
  if (!pk.startsWith('object#') || !(sk.startsWith('destination#') || sk === 'route')) return undefined;
  return { pk, sk };
}

/** The message the router puts on a vendor queue. */
export interface DeliveryMessage {
  v: 1;
  pk: string;
  sk: string;
  destination: string;
  vendor: string;
  object: ObjectRef;
  fields: JsonObject;
}

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
      typeof m.fields === 'object'
    ) {
      return m as DeliveryMessage;
    }
  } catch {
    // fall through
  }
  return undefined;
}
