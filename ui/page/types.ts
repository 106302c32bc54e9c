/**
 * The ops API's shapes as the page reads them (docs/ops-api.md). The page is a client of that contract: the
 * only relay code it bundles is the status list (lambdas/domain/status.ts, pure constants).
 */

import type { DeliveryStatus } from '../../lambdas/domain/status.ts';

export type { DeliveryStatus };

export interface Envelope<T> {
  success: boolean;
  response: T | null;
  error: { code: string; text: string } | null;
}

export interface DestinationStatus {
  name: string;
  vendor: string;
  state: 'running' | 'paused' | 'stopped' | 'disabled';
  stateReason?: { code: string; message: string; since: string };
  counts: Partial<Record<DeliveryStatus, number>>;
  lastSuccess?: { at: string; key: string };
  lastError?: { code: string; message: string; at: string; key: string };
  dlqDepth: number;
  oldestPendingAgeSeconds: number | null;
  perMinute: { minute: string; delivered: number; failed: number }[];
}

export interface StatusResponse {
  generatedAt: string;
  destinations: DestinationStatus[];
  unrouted: { count: number; lastAt?: string };
}

export interface Marker {
  component: string;
  component_type: 'Receiver' | 'Transmit';
  /** The stream it is shown on (absent on the unrouted marker). */
  asset?: string;
  stream_type?: string;
  category: 'destination_state' | 'error_rate' | 'silence' | 'late_sidecar' | 'unrouted';
  level: 'info' | 'warning' | 'error';
  message: string;
  timestamp: string;
}

export interface StreamRow {
  /** FactoryTX's names (`asset:stream_type`, the receiver); `id` and `receiver` are the same. */
  stream: string;
  data_receiver: string;
  id: string;
  receiver: string;
  asset: string;
  stream_type: string;
  destinations: string[];
  lastObjectAt?: string;
  lastDeliveredAt?: string;
  markers: Marker[];
}

export interface StreamsResponse {
  streams: StreamRow[];
  /** Keys that matched no stream: one marker here while the latest is recent, not one on every stream. */
  unrouted: { count: number; lastAt?: string; marker?: Marker };
}

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
  lastError?: { code: string; message: string; httpStatus?: number; vendorCode?: string };
  notice?: { code: string; message: string };
  resultKey?: string;
  restreamOf?: string;
}

export interface HistoryEntry {
  at: string;
  status: string;
  code?: string;
  message?: string;
  attempt?: number;
}

export interface DeliveryDetail extends Delivery {
  history: HistoryEntry[];
  checkpoint?: unknown;
  fields?: unknown;
  vendorDetail?: unknown;
  nextCheckAt?: string;
  sidecar?: 'used' | 'missing' | 'none';
  restream?: { requestId: string; previous?: string };
}

export interface DeliveriesPage {
  items: Delivery[];
  next?: string;
}

export interface DeadLetterQueue {
  queue: string;
  destination?: string;
  vendor?: string;
  url?: string;
  depth: number;
  messages: {
    messageId: string;
    deliveryId?: string;
    key?: string;
    destination?: string;
    sentAt?: string;
    receiveCount?: number;
    reason?: string;
  }[];
}

export interface DeadLettersResponse {
  queues: DeadLetterQueue[];
}

/** POST /v1/restream's body: FactoryTX's `{<receiver>: [{asset, stream_type}]}` plus filters. */
export interface RestreamBody {
  requestId: string;
  since?: string;
  until?: string;
  serial?: string;
  destination?: string;
  status?: DeliveryStatus;
  code?: string;
  keys?: string[];
  dryRun?: boolean;
  [receiver: string]: string | string[] | boolean | { asset: string; stream_type: string }[] | undefined;
}

export interface RestreamAnswer {
  requestId: string;
  matched: number;
  queued: number;
  duplicate: boolean;
  dryRun?: boolean;
  state?: string;
}

export interface DestinationAnswer {
  name: string;
  state: string;
}

export interface RedriveAnswer {
  redriveId: string;
  queue: string;
  requested?: number;
  moved: number;
}
