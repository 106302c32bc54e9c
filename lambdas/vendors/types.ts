/**
 * The vendor plug-in interface. A vendor is one folder under lambdas/vendors/ exporting a `VendorPlugin`, plus
 * one line in registry.ts. The relay core (router, forwarder, poller, callback handler) knows nothing else
 * about any vendor. docs/architecture.md explains how each of the four vendors fits this shape.
 */
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Logger } from '#commons/logger.ts';
import type { DeliveryStatus, RecordedError } from '#domain/status.ts';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };
/** A JSON Schema document (draft 2020-12 subset understood by ajv). */
export type JsonSchema = { [key: string]: unknown };

/** One version of one S3 object. `versionId` when the bucket is versioned, else the ETag identifies it. */
export interface ObjectRef {
  bucket: string;
  key: string;
  versionId?: string;
  etag: string;
  size: number;
}

/** A destination (a FactoryTX `data_transmit` entry) as the forwarder sees it. */
export interface Destination {
  name: string;
  vendor: string;
  baseUrl: string;
  /** Name of the Secrets Manager secret holding the API key; never the key itself. */
  apiKeySecret?: string;
  options: JsonObject;
}

/** One (object version × destination) delivery. */
export interface DeliveryJob {
  deliveryId: string;
  destination: string;
  object: ObjectRef;
  /** Vendor fields resolved from the config's templates by the router. */
  fields: JsonObject;
  /** 1 for the first send. */
  attempt: number;
  /** Earlier sends of this delivery that may have reached the vendor without an answer (crash, lost answer). */
  ambiguousSends: number;
  /** What this plug-in saved with `ctx.checkpoint` on an earlier attempt (multi-step vendors resume from it). */
  checkpoint?: JsonObject;
}

/** A delivery the vendor has accepted and is still working on (validation, a processing task). */
export interface PendingDelivery {
  deliveryId: string;
  destination: string;
  status: DeliveryStatus;
  vendorRef: string;
  object: ObjectRef;
  fields: JsonObject;
  checkpoint?: JsonObject;
  /** When the vendor accepted the delivery (ISO 8601). */
  acceptedAt: string;
  /** How many checks were made since. */
  pollCount: number;
  /**
   * Set only in the re-check a vendor's callback triggered: the callback's body parsed as JSON (null when it
   * is not JSON). Untrusted (the caller held a valid token, nothing more): a plug-in may use it only as a hint
   * of what to re-query (e.g. a task key it never received), never as a status.
   */
  callbackBody?: JsonValue;
}

export type AcceptedStatus = 'ACCEPTED' | 'PENDING_VALIDATION' | 'PROCESSING' | 'UPLOADED' | 'COMPLETED';

/**
 * What a plug-in answers for one job. The core turns it into a status; a plug-in never writes records itself.
 * Each destination-level failure (credentials, a quota, a missing dataset, storage exhausted) is a `hold`:
 * the core pauses the destination, parks its deliveries in the table without spending attempts, probes it
 * later and re-queues them when it runs again. One mechanism for every vendor and for the operator's stop.
 * The jobs one request carried and that share its fate get one outcome object (`jobs.map(() => outcome)`): the
 * core counts a failed request once towards an outage (`relay.outage_threshold`), not once per file.
 */
export type DeliveryOutcome =
  /** The vendor took it. A pollable status means the poller follows it up with `vendorRef`. */
  | { kind: 'accepted'; status: AcceptedStatus; vendorRef?: string; detail?: JsonObject }
  /**
   * The vendor already holds this content (a duplicate hash, ALREADY_EXISTS). `error.code` names the vendor's
   * reason. The core records ALREADY_PRESENT, or UPLOADED when an earlier send of this delivery may have
   * reached the vendor without an answer (then the copy the vendor has is the relay's own).
   */
  | { kind: 'present'; error: RecordedError; vendorRef?: string; detail?: JsonObject }
  /** Permanent: bad input or a vendor 4xx. Recorded as REJECTED, never retried. */
  | { kind: 'rejected'; error: RecordedError }
  /**
   * Transient: 429, 5xx, network. Retried with backoff until the attempts run out (then DEAD, or UNCONFIRMED
   * when a send may have reached the vendor). `ambiguous`: the request went out in full and no answer came, so
   * the vendor may hold the file (counted on the record as `ambiguousSends`).
   */
  | { kind: 'retry'; error: RecordedError; retryAfterMs?: number; ambiguous?: boolean }
  /**
   * The destination cannot take anything now (credentials refused, a quota exhausted, a team or dataset that
   * does not exist, storage full). `probeAfterMs`: when a probe makes sense (e.g. a quota's reset); default
   * the config's `pause_probe_seconds`.
   */
  | { kind: 'hold'; error: RecordedError; probeAfterMs?: number };

export type PollOutcome =
  | { kind: 'unchanged' }
  /** `vendorRef`: the vendor's id, when this check found it (a delivery accepted without one). */
  | {
      kind: 'status';
      status: DeliveryStatus;
      error?: RecordedError;
      /** Not a failure, but worth telling ops (e.g. a result not written: a newer version superseded it). */
      notice?: RecordedError;
      detail?: JsonObject;
      vendorRef?: string;
    }
  /** The status call itself failed for this item in a way worth recording (it stays pending). */
  | { kind: 'error'; error: RecordedError }
  /** The status call showed the destination cannot be used (e.g. its key was refused): pause it. */
  | { kind: 'hold'; error: RecordedError; probeAfterMs?: number };

/** Random access to one object version: a few small ranged reads, never the whole file. */
export interface RangeReader {
  readonly size: number;
  /** Bytes [start, endExclusive), clamped to the object. */
  read(start: number, endExclusive: number): Promise<Buffer>;
}

export interface PreflightInput {
  object: ObjectRef;
  /** The first `preflight.headBytes` bytes of the object (already read). */
  head: Buffer;
  /** Further bytes anywhere in the object (headers past the head, an MP4's moov at the end). */
  reader: RangeReader;
  fields: JsonObject;
  destination: Destination;
}

/** Reads factory objects. Never writes them: the relay never modifies a factory's object. */
export interface ObjectSource {
  /** Bytes [start, endExclusive) of the object (a ranged GET). */
  range(ref: ObjectRef, start: number, endExclusive: number): Promise<Buffer>;
  /** The whole object as a stream (never buffered whole). */
  stream(ref: ObjectRef): Promise<Readable>;
}

/**
 * What a result write did: written, or not written because the source object the result was made from is no
 * longer the current version of its key (a newer upload's delivery writes its own result under the same key).
 */
export type ResultWrite =
  | { written: true; bucket: string; key: string }
  | { written: false; superseded: { versionId?: string; etag: string } };

/**
 * Writes vendor results (processed images) to the results location; never over a factory object, and never
 * over a newer source version's result: `source` is the object version the result was made from, and the sink
 * writes only while that version is still the current one of its key (or the key is gone).
 */
export interface ResultSink {
  put(input: {
    key: string;
    body: Readable | Buffer;
    contentType: string;
    contentLength?: number;
    metadata?: Record<string, string>;
    source: ObjectRef;
  }): Promise<ResultWrite>;
}

/** A vendor request, sent through `VendorContext.request`. */
export interface VendorRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD';
  url: URL;
  headers?: Record<string, string>;
  /** A stream is sent as it is read (set `content-length`); its end marks the request as sent in full. */
  body?: Readable | string | Buffer;
  /** Most characters of the answer kept (default 64 000, enough for any error body). */
  maxAnswerChars?: number;
}

/**
 * What came back. `no-answer`: the connection failed or the deadline passed before an answer; `sentInFull`
 * says whether the whole request had been handed to the connection by then (the vendor may have it).
 */
export type VendorAnswer =
  | {
      kind: 'answer';
      status: number;
      headers: Record<string, string | string[] | undefined>;
      text: string;
      /** The answer was longer than `maxAnswerChars`: `text` is its start, the rest was not read (commons/http.ts). */
      truncated?: true;
    }
  | { kind: 'no-answer'; error: Error; sentInFull: boolean };

/** Small per-destination values shared by every Lambda (e.g. an uploaded background's id by content hash). */
export interface DestinationCache {
  get(key: string): Promise<JsonObject | undefined>;
  put(key: string, value: JsonObject, ttlSeconds?: number): Promise<void>;
  delete(key: string): Promise<void>;
}

export interface VendorContext {
  destination: Destination;
  /**
   * Sends one vendor request: header values are checked before anything is dispatched (a value undici would
   * refuse could otherwise hold a pooled connection), the answer is read as text, and a failure says whether
   * the request had gone out in full. Prefer it to `http`.
   */
  request(req: VendorRequest): Promise<VendorAnswer>;
  /** undici dispatcher for what `request` does not cover (streaming a result download). */
  http: Dispatcher;
  /**
   * The destination's API key, from Secrets Manager (cached). Throws a CredentialsError (missing, unreadable
   * or malformed: whitespace, control characters, the vendor's documented shape) before any request is built;
   * the core then holds the destination instead of spending attempts.
   */
  apiKey(): Promise<string>;
  objects: ObjectSource;
  results: ResultSink;
  /** Per-destination shared values (status table). */
  cache: DestinationCache;
  /**
   * Waits for a token of the vendor's shared rate limit (every concurrent Lambda draws from it). A callback's
   * re-check draws from a separate small share, so a callback flood never slows forwarding.
   */
  throttle(): Promise<void>;
  /** Persists progress of a multi-step delivery so a later attempt resumes instead of restarting. */
  checkpoint(deliveryId: string, data: JsonObject): Promise<void>;
  /**
   * A step of a delivery that must happen once although several workers may check it at the same time (the
   * poller and a callback, a duplicated callback): bringing a result home. `claim` answers true to one caller;
   * the claim lapses after `forMs` (its holder died); `release` gives it back when the step failed.
   */
  steps: {
    claim(deliveryId: string, step: string, forMs: number): Promise<boolean>;
    release(deliveryId: string, step: string): Promise<void>;
  };
  /**
   * The URL a vendor should call back for this delivery (with a per-delivery token only the relay can make),
   * when the relay has a callback endpoint.
   */
  callbackUrl(deliveryId: string): Promise<string | undefined>;
  /** Aborted when the invocation is about to run out of time. */
  signal: AbortSignal;
  /** The clock (injected in tests). */
  now(): number;
  log: Logger;
}

export interface InlinedOptions {
  options: JsonObject;
  /** `path` is inside `options`. */
  errors: Array<{ path: Array<string | number>; description: string }>;
}

export interface VendorInfra {
  /** Messages per forwarder invocation (SQS event source batch size; > 10 needs a batching window). */
  batchSize?: number;
  /** Seconds the event source gathers messages before invoking (0–300). */
  batchingWindowSeconds?: number;
  /** Forwarder function timeout in seconds. */
  timeoutSeconds?: number;
  memoryMb?: number;
  /** Most concurrent forwarder invocations (Lambda allows 2..1000). */
  maxConcurrency?: number;
  /** The vendor's results are written back to the results bucket (by its forwarder and the poller). */
  writesResults?: boolean;
}

export interface VendorPlugin {
  /** The `transmit_type` in the config. */
  readonly id: string;
  readonly displayName: string;
  /** JSON Schema of the resolved vendor fields (after templating); violations reject the delivery. */
  readonly fieldsSchema: JsonSchema;
  /** JSON Schema of the destination's `options` in the config. */
  readonly optionsSchema: JsonSchema;
  /**
   * Options may name files shipped beside the config (paths relative to the config file). Loading a config
   * file calls this with a reader of those files; it answers the options with the files' bytes inlined, so
   * that the config the functions run with (baked into their bundles by CDK) carries them, or the problems.
   */
  inlineConfigFiles?(options: JsonObject, read: (path: string) => Buffer): InlinedOptions;
  /**
   * S3 objects a destination's options name that the vendor's forwarder reads (a background image in a
   * brand-assets bucket): CDK grants the forwarder read access to exactly these.
   */
  objectsRead?(options: JsonObject): Array<{ bucket: string; key: string }>;
  /** Default shared rate limit per API key; the config may override it. */
  readonly rateLimit?: { burst: number; perSecond: number };
  /** How many jobs one `deliver` call may take (vendors whose API takes batches). Default 1. */
  readonly maxBatch?: number;
  /**
   * Most bytes (the sum of the objects' sizes) one `deliver` call may take; a job larger than this goes alone.
   * Default: no bound but `maxBatch`.
   */
  readonly maxBatchBytes?: number;
  /**
   * How long a `deliver` call of these jobs may take at worst (their bytes at the slowest rate the vendor is
   * assumed to take them). The core starts such a call only when the invocation has that long left; otherwise
   * the jobs' messages go back to the queue unclaimed, spending no attempt. Default: always started.
   */
  sendBudgetMs?(jobs: readonly DeliveryJob[]): number;
  /**
   * Jobs with different keys never share a `deliver` call (e.g. per-request headers such as a label). Default:
   * one group.
   */
  groupKey?(job: DeliveryJob, destination: Destination): string;
  /** Infrastructure the vendor needs (CDK and the local stack read it). */
  readonly infra?: VendorInfra;
  /** The documented shape of the vendor's API key: a reason when `key` cannot be one, before any request. */
  checkCredentials?(key: string): string | undefined;
  /** Checks from the vendor's documented rules, made before anything is sent. */
  readonly preflight?: {
    /** Bytes read up front (one ranged GET); `check` may read more through `input.reader`. */
    headBytes: number;
    check(input: PreflightInput): Promise<RecordedError | undefined> | RecordedError | undefined;
  };
  /** Sends jobs (at most `maxBatch`, all for one destination); answers one outcome per job, in order. */
  deliver(jobs: DeliveryJob[], ctx: VendorContext): Promise<DeliveryOutcome[]>;
  /** Follows up accepted deliveries; answers an outcome per deliveryId it knows about. */
  readonly poll?: {
    maxBatch: number;
    /** Delay before the first check after acceptance. */
    firstCheckAfterMs: number;
    run(items: PendingDelivery[], ctx: VendorContext): Promise<Map<string, PollOutcome>>;
  };
  /**
   * The vendor calls back (InstaVid360). Callback URLs carry a per-delivery token only the relay can make; a
   * valid callback makes the relay re-check that delivery with `poll.run`, drawing from `rateShare` of the
   * vendor's rate limit (forwarding and polling keep the rest), so a flood of callbacks never slows them.
   */
  readonly callback?: { rateShare: number };
}
