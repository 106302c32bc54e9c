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
}

export type AcceptedStatus = 'ACCEPTED' | 'PENDING_VALIDATION' | 'PROCESSING' | 'UPLOADED' | 'COMPLETED';

export type DeliveryOutcome =
  /** The vendor took it. A pollable status means the poller follows it up with `vendorRef`. */
  | { kind: 'accepted'; status: AcceptedStatus; vendorRef?: string; detail?: JsonObject }
  /** Permanent: bad input or a vendor 4xx. Recorded as REJECTED, never retried. */
  | { kind: 'rejected'; error: RecordedError }
  /** Transient: 429, 5xx, network. Retried with backoff until the attempts run out (then DEAD). */
  | { kind: 'retry'; error: RecordedError; retryAfterMs?: number }
  /** The destination's credentials were refused: the destination pauses instead of burning the queue. */
  | { kind: 'unauthorized'; error: RecordedError };

export type PollOutcome =
  | { kind: 'unchanged' }
  | { kind: 'status'; status: DeliveryStatus; error?: RecordedError; detail?: JsonObject }
  /** The status call itself failed for this item in a way worth recording (it stays pending). */
  | { kind: 'error'; error: RecordedError };

export interface PreflightInput {
  object: ObjectRef;
  /** The first `preflight.headBytes` bytes of the object. */
  head: Buffer;
  fields: JsonObject;
  destination: Destination;
}

/** Reads factory objects. Never writes them: the relay never modifies a factory's object. */
export interface ObjectSource {
  /** The object's first `bytes` bytes (a ranged GET). */
  head(ref: ObjectRef, bytes: number): Promise<Buffer>;
  /** The whole object as a stream (never buffered whole). */
  stream(ref: ObjectRef): Promise<Readable>;
}

/** Writes vendor results (processed images) to the results location; never over a factory object. */
export interface ResultSink {
  put(input: {
    key: string;
    body: Readable | Buffer;
    contentType: string;
    contentLength?: number;
    metadata?: Record<string, string>;
  }): Promise<{ bucket: string; key: string }>;
}

export interface VendorContext {
  destination: Destination;
  /** undici dispatcher to send every vendor request through (pooled, loopback-safe in tests). */
  http: Dispatcher;
  /** The destination's API key, fetched from Secrets Manager and cached. */
  apiKey(): Promise<string>;
  objects: ObjectSource;
  results: ResultSink;
  /** Waits for a token of the destination's shared rate limit (every concurrent forwarder draws from it). */
  throttle(): Promise<void>;
  /** Persists progress of a multi-step delivery so a later attempt resumes instead of restarting. */
  checkpoint(deliveryId: string, data: JsonObject): Promise<void>;
  /** The URL a vendor should call back for this delivery, when the relay has a callback endpoint. */
  callbackUrl(deliveryId: string): string | undefined;
  /** Aborted when the invocation is about to run out of time. */
  signal: AbortSignal;
  log: Logger;
}

/** What a vendor's HTTP callback told us: only hints. The relay re-queries the vendor before trusting it. */
export interface CallbackRequest {
  body: string;
  headers: Record<string, string | undefined>;
  query: Record<string, string | undefined>;
}

export interface VendorPlugin {
  /** The `transmit_type` in the config. */
  readonly id: string;
  readonly displayName: string;
  /** JSON Schema of the resolved vendor fields (after templating); violations reject the delivery. */
  readonly fieldsSchema: JsonSchema;
  /** JSON Schema of the destination's `options` in the config. */
  readonly optionsSchema: JsonSchema;
  /** Default shared rate limit per API key; the config may override it. */
  readonly rateLimit?: { burst: number; perSecond: number };
  /** How many jobs one `deliver` call may take (vendors whose API takes batches). Default 1. */
  readonly maxBatch?: number;
  /** Checks from the vendor's documented rules, made before anything is sent. */
  readonly preflight?: {
    headBytes: number;
    check(input: PreflightInput): RecordedError | undefined;
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
  /** Extracts the vendor references a callback concerns; the relay then polls those. */
  readonly callback?: {
    refs(req: CallbackRequest): string[];
  };
}
