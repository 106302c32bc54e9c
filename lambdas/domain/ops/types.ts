/** What every ops route module gets: the request, and the ports to the table, S3, SQS and the logs. */

import type { Logger } from '#commons/logger.ts';
import type { RelayConfig } from '#domain/config/types.ts';
import type { DeliveryKey, DeliveryRecord } from '#domain/delivery.ts';
import type { RecordedError } from '#domain/status.ts';
import type { VendorCatalog } from '#vendors/registry.ts';
import type { CountersPort } from './aggregate.ts';

export interface OpsRequest {
  method: string;
  /** The API Gateway route key; `$default` when no ops route matched (dispatch answers 404 or 405). */
  routeKey: string;
  /** The request's path as sent (`/v1/...`): what a `$default` request is told it did not match. */
  rawPath?: string;
  /** API Gateway's request id: logged with a failure and named in a 500's text. */
  requestId?: string;
  path: Record<string, string>;
  query: Record<string, string>;
  /** The body as text (JSON or YAML), or undefined. */
  body?: string;
  contentType?: string;
  /** Who is asking: the caller's IAM ARN on AWS, `local:<user>` on the local stack. */
  by: string;
}

export interface Page<T> {
  items: T[];
  /** Opaque: pass back to read the next page. */
  next?: string;
}

export interface IndexQuery {
  index: 'bySerial' | 'byOutcome' | 'byDue';
  value: string;
  /** Inclusive bounds on the index's sort key. */
  from?: string;
  to?: string;
  limit: number;
  next?: string;
}

export interface StoredRequest {
  kind: 'restream' | 'redrive';
  id: string;
  [field: string]: unknown;
}

export interface ConfigVersion {
  version: number;
  savedAt: string;
  by: string;
  /** The config as it was sent (YAML or JSON), for reading back and rollback. */
  text: string;
  /** The same config validated and `${VAR}`-interpolated, as JSON: what every Lambda reads (as a baked one). */
  json: string;
  /**
   * configHash of the baked config of the deploy it was saved on (domain/config/precedence.ts): it is used only
   * while that deploy's config is the baked one. Absent on versions saved before it was recorded (never used).
   */
  baseHash?: string;
}

/** The config a process uses (domain/config/precedence.ts): the baked one (version 0) or a saved version. */
export interface ConfigInUse {
  config: RelayConfig;
  version: number;
  savedAt?: string;
  by?: string;
  /** The saved version's baseHash (absent for the baked config). */
  baseHash?: string;
  /** configHash of this deploy's baked config: what a save records as its baseHash. */
  bakedHash: string;
  /** The newest saved version this process has seen, whether in use or not. */
  newestSaved?: { version: number; baseHash?: string };
}

export interface OpsTable {
  get(key: DeliveryKey): Promise<DeliveryRecord | undefined>;
  forObject(pk: string): Promise<DeliveryRecord[]>;
  query(q: IndexQuery): Promise<Page<DeliveryRecord>>;
  destinationState(
    name: string,
  ): Promise<{ paused: boolean; stoppedByOperator?: boolean; reason?: RecordedError }>;
  stopDestination(name: string, by: string): Promise<void>;
  startDestination(name: string, by: string): Promise<void>;
  /** Stores a request once (conditional put): `created` false answers the one stored earlier. */
  putRequest(req: StoredRequest): Promise<{ created: boolean; stored: StoredRequest }>;
  updateRequest(kind: StoredRequest['kind'], id: string, fields: Record<string, unknown>): Promise<void>;
  /**
   * Takes a stored request's lease (`lease`, `leaseUntil` ms) when it is `running` and nobody holds a live one:
   * the request as it is then, or undefined when someone else is at it or it is no longer running.
   */
  claimRequest(
    kind: StoredRequest['kind'],
    id: string,
    lease: string,
    leaseUntil: number,
    now: number,
  ): Promise<StoredRequest | undefined>;
  /** Updates a request only while `lease` is still its lease: false when it was lost. */
  updateLeased(
    kind: StoredRequest['kind'],
    id: string,
    lease: string,
    fields: Record<string, unknown>,
  ): Promise<boolean>;
  getRequest(kind: StoredRequest['kind'], id: string): Promise<StoredRequest | undefined>;
  listRequests(kind: StoredRequest['kind'], limit: number): Promise<StoredRequest[]>;
  latestConfig(): Promise<ConfigVersion | undefined>;
  configVersion(version: number): Promise<ConfigVersion | undefined>;
  listConfigVersions(limit: number): Promise<Array<Omit<ConfigVersion, 'text' | 'json'>>>;
  /** Stores version N once: false when another save took N first. */
  putConfigVersion(v: ConfigVersion): Promise<boolean>;
}

export interface ObjectVersion {
  key: string;
  versionId?: string;
  etag: string;
  size: number;
  lastModified: string;
  isLatest: boolean;
}

export interface OpsObjects {
  /** The current version of each object under a prefix. */
  listLatest(
    bucket: string,
    prefix: string,
    max: number,
    next?: string,
  ): Promise<{ versions: ObjectVersion[]; next?: string }>;
}

export interface QueueMessage {
  messageId: string;
  body: string;
  receiptHandle: string;
  sentAt?: string;
  receiveCount?: number;
  reason?: string;
}

export interface OpsQueues {
  send(queueUrl: string, messages: Array<{ id: string; body: string; delaySeconds?: number }>): Promise<void>;
  depth(queueUrl: string): Promise<number>;
  /** Receives up to `max` messages, hidden for `visibilitySeconds`. */
  receive(queueUrl: string, max: number, visibilitySeconds: number): Promise<QueueMessage[]>;
  /** Makes a received message visible again at once. */
  release(queueUrl: string, receiptHandle: string): Promise<void>;
  delete(queueUrl: string, receiptHandle: string): Promise<void>;
}

/** One queue the relay runs and its dead-letter queue. */
export interface QueueInfo {
  /** `ingest` or a vendor id. */
  name: string;
  url: string;
  dlqUrl: string;
  vendor?: string;
}

export interface LogLine {
  time: string;
  level: string;
  message: string;
  [field: string]: unknown;
}

export interface LogFilter {
  delivery?: string;
  key?: string;
  level?: string;
  /** ISO time: no line before it. Always given (logStream defaults it to an hour ago). */
  since: string;
  limit: number;
}

export interface OpsLogs {
  read(filter: LogFilter): Promise<LogLine[]>;
}

export interface OpsDeps {
  /** The config in use now, and its version (0: the baked default); see ConfigInUse. */
  config(): ConfigInUse;
  vendors: VendorCatalog;
  table: OpsTable;
  /** The aggregator's counters (status, streams). */
  counters: CountersPort;
  objects: OpsObjects;
  queues: OpsQueues;
  logs: OpsLogs;
  /** The ingest bucket and queue (restream) and every queue with its DLQ (dead letters). */
  ingestBucket: string;
  ingestQueue: QueueInfo;
  vendorQueues: QueueInfo[];
  log: Logger;
  now(): number;
  /** Waits (the redrive's and restream's rate bound); tests pass a fast one. */
  sleep(ms: number): Promise<void>;
  /** The config baked in at deploy (its JSON text): what `{"rollback": 0}` saves again. */
  bakedConfigText?(): string | undefined;
  /** Called after a config save so this process uses it at once (the other Lambdas within a minute). */
  configSaved?(v: ConfigVersion): void;
}
