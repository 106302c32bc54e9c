/**
 * Builds the VendorContext a plug-in works with: its destination, credentials, the shared rate limit, object
 * access, checkpoints, a shared cache and callback URLs. The same for the forwarder, the poller and the
 * callback handler; only the rate budget differs (a callback's re-check draws from its own small share).
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Dispatcher } from 'undici';
import { CredentialsError } from '#commons/errors.ts';
import { sendRequest } from '#commons/http.ts';
import type { Logger } from '#commons/logger.ts';
import type { DataTransmit } from '#domain/config/types.ts';
import type {
  Destination,
  JsonObject,
  ObjectRef,
  ObjectSource,
  ResultSink,
  VendorContext,
  VendorPlugin,
} from '#vendors/types.ts';
import { callbackToken } from './callback-token.ts';
import { type RateLimit, tokenBlock } from './rate-limit.ts';

export interface VendorRuntime {
  http: Dispatcher;
  objects: ObjectSource;
  results: ResultSink;
  /** The API key a secret holds (may throw CredentialsError); `fresh` skips the cache. */
  apiKey(secretName: string, options?: { fresh?: boolean }): Promise<string>;
  /** Takes `n` tokens at once from a shared bucket (one conditional write). */
  takeToken(
    bucketId: string,
    limit: RateLimit,
    n?: number,
  ): Promise<{ ok: true } | { ok: false; retryInMs: number }>;
  saveCheckpoint(deliveryId: string, data: JsonObject): Promise<void>;
  /**
   * One-time steps of a delivery (VendorContext.steps), on its record. Without them (a test's runtime) claims
   * hold within this process only.
   */
  claimStep?(deliveryId: string, step: string, forMs: number): Promise<boolean>;
  releaseStep?(deliveryId: string, step: string): Promise<void>;
  cache: {
    get(destination: string, key: string): Promise<JsonObject | undefined>;
    put(destination: string, key: string, value: JsonObject, ttlSeconds?: number): Promise<void>;
    delete(destination: string, key: string): Promise<void>;
  };
  /** Public base URL of the callback route, when there is one. */
  callbackBaseUrl?: string;
  /** The key callback tokens are signed with (Secrets Manager). */
  callbackSigningKey?: () => Promise<Buffer>;
  log: Logger;
  now?: () => number;
}

/** Who the context is for: the rate budget it draws from, and whether cached credentials may be used. */
export interface ContextOptions {
  purpose?: 'forward' | 'poll' | 'callback';
  /** Read the API key from Secrets Manager, not the cache (a paused destination's probe). */
  freshCredentials?: boolean;
  /**
   * How many rate-limited requests this context expects to make (the forwarder: its batch's jobs): tokens are
   * then taken from the shared bucket in blocks (rate-limit.ts tokenBlock), not one write per request.
   */
  plannedRequests?: number;
}

/** Objects up to this size that one read from offset 0 returned whole are kept for the send. */
export const WHOLE_OBJECT_MAX_BYTES = 1024 * 1024;

/**
 * The object source of one vendor context (one invocation's group): a read from offset 0 that returned a whole
 * object of at most WHOLE_OBJECT_MAX_BYTES — the pre-flight's head of a small file (64 KiB for Instrumental) —
 * is kept, and the send streams those bytes instead of a second GetObject. Larger files take the ranged head
 * read and then one streaming GET: holding a stream open across the pre-flight, the claim and a rate-limit
 * wait would leave an S3 connection idle for seconds.
 */
export class OneReadObjects implements ObjectSource {
  private readonly whole = new Map<string, Buffer>();

  constructor(private readonly source: ObjectSource) {}

  private static id(ref: ObjectRef): string {
    return JSON.stringify([ref.bucket, ref.key, ref.versionId ?? null, ref.etag]);
  }

  async range(ref: ObjectRef, start: number, endExclusive: number): Promise<Buffer> {
    const kept = this.whole.get(OneReadObjects.id(ref));
    if (kept) return kept.subarray(start, Math.min(endExclusive, kept.length));
    const bytes = await this.source.range(ref, start, endExclusive);
    if (start === 0 && ref.size > 0 && ref.size <= WHOLE_OBJECT_MAX_BYTES && bytes.length === ref.size)
      this.whole.set(OneReadObjects.id(ref), bytes);
    return bytes;
  }

  async stream(ref: ObjectRef): Promise<Readable> {
    const kept = this.whole.get(OneReadObjects.id(ref));
    return kept ? Readable.from([kept], { objectMode: false }) : this.source.stream(ref);
  }
}

export class RateLimitTimeout extends Error {
  constructor(readonly bucket: string) {
    super(`no rate-limit token for ${bucket} before the invocation deadline`);
    this.name = 'RateLimitTimeout';
  }
}

export function toDestination(t: DataTransmit): Destination {
  const d: Destination = {
    name: t.transmit_name,
    vendor: t.transmit_type,
    baseUrl: t.base_url,
    options: t.options ?? {},
  };
  if (t.api_key_secret) d.apiKeySecret = t.api_key_secret;
  return d;
}

/**
 * The vendor's limit per API key: the config's override, else the plug-in's default. For a vendor that calls
 * back, `callback` is the share callbacks may use and `main` the rest, so the two never take from each other.
 */
export function rateLimitOf(
  t: DataTransmit,
  plugin: VendorPlugin,
  purpose: ContextOptions['purpose'] = 'forward',
): RateLimit | undefined {
  const limit = t.rate_limit
    ? { burst: t.rate_limit.burst, perSecond: t.rate_limit.per_second }
    : plugin.rateLimit;
  const share = plugin.callback?.rateShare ?? 0;
  if (!limit || share <= 0) return limit;
  const part = purpose === 'callback' ? share : 1 - share;
  return { burst: Math.max(1, Math.floor(limit.burst * part)), perSecond: limit.perSecond * part };
}

/**
 * The vendor limits requests per API key, so the relay's shared bucket is per key too: identified by a
 * fingerprint of the key itself (never the key), so that two secrets or destinations holding one key share
 * one bucket, and a rotated key starts a fresh one. Destinations without a key share one per destination.
 */
export function rateLimitBucketId(
  plugin: VendorPlugin,
  apiKey: string | undefined,
  destination: string,
  purpose: ContextOptions['purpose'] = 'forward',
): string {
  const suffix = purpose === 'callback' && (plugin.callback?.rateShare ?? 0) > 0 ? ':callback' : '';
  if (apiKey === undefined) return `${plugin.id}:destination:${destination}${suffix}`;
  return `${plugin.id}:key:${createHash('sha256').update(apiKey).digest('hex').slice(0, 24)}${suffix}`;
}

/** Whitespace or control characters: never part of a real key, always a copy-paste accident. */
const NOT_IN_A_KEY = /[\s\p{Cc}\p{Cf}]/u;

/** Checks a key before any request is built: empty, stray characters, the vendor's documented shape. */
export function checkApiKey(plugin: VendorPlugin, secretName: string, key: string): string {
  if (key === '') throw new CredentialsError('CREDENTIALS_MISSING', `secret ${secretName} is empty`);
  if (NOT_IN_A_KEY.test(key)) {
    const where = /^\s|\s$/.test(key) ? 'leading or trailing whitespace' : 'whitespace or control characters';
    throw new CredentialsError('CREDENTIALS_MALFORMED', `the key in secret ${secretName} has ${where}`);
  }
  const reason = plugin.checkCredentials?.(key);
  if (reason)
    throw new CredentialsError('CREDENTIALS_MALFORMED', `the key in secret ${secretName} ${reason}`);
  return key;
}

/** Step claims of runtimes without a table (tests): until when each is held. */
const inProcessClaims = new Map<string, number>();

function claimInProcess(id: string, now: number, forMs: number): boolean {
  const until = inProcessClaims.get(id);
  if (until !== undefined && until >= now) return false;
  inProcessClaims.set(id, now + forMs);
  return true;
}

export function createVendorContext(
  transmit: DataTransmit,
  plugin: VendorPlugin,
  rt: VendorRuntime,
  signal: AbortSignal,
  options: ContextOptions = {},
): VendorContext {
  const destination = toDestination(transmit);
  const purpose = options.purpose ?? 'forward';
  const limit = rateLimitOf(transmit, plugin, purpose);
  const now = rt.now ?? Date.now;
  let fresh = options.freshCredentials === true;
  // Tokens taken in a block and not spent yet, and requests made: this context's share of the shared bucket.
  let prepaid = 0;
  let used = 0;
  let throttling: Promise<void> = Promise.resolve();
  const apiKey = async (): Promise<string> => {
    const name = transmit.api_key_secret;
    if (!name)
      throw new CredentialsError(
        'CREDENTIALS_MISSING',
        `destination ${destination.name} has no api_key_secret`,
      );
    const key = await rt.apiKey(name, { fresh });
    fresh = false;
    return checkApiKey(plugin, name, key);
  };
  return {
    destination,
    http: rt.http,
    request: (req) => sendRequest(rt.http, req, signal),
    objects: new OneReadObjects(rt.objects),
    results: rt.results,
    apiKey,
    cache: {
      get: (key) => rt.cache.get(destination.name, key),
      put: (key, value, ttl) => rt.cache.put(destination.name, key, value, ttl),
      delete: (key) => rt.cache.delete(destination.name, key),
    },
    throttle() {
      if (!limit) return Promise.resolve();
      // One take at a time per context: concurrent sends of one batch share a block instead of racing for one
      // each (and wasting the rest).
      const take = async () => {
        if (prepaid > 0) {
          prepaid--;
          used++;
          return;
        }
        const key = transmit.api_key_secret ? await apiKey() : undefined;
        const bucketId = rateLimitBucketId(plugin, key, transmit.transmit_name, purpose);
        for (;;) {
          if (signal.aborted) throw new RateLimitTimeout(bucketId);
          const n = tokenBlock(limit, Math.max(1, (options.plannedRequests ?? 1) - used));
          const t = await rt.takeToken(bucketId, limit, n);
          if (t.ok) {
            prepaid += n - 1;
            used++;
            return;
          }
          await sleep(Math.min(t.retryInMs, 1000), undefined, { signal }).catch(() => undefined);
        }
      };
      const mine = throttling.then(take);
      throttling = mine.catch(() => undefined);
      return mine;
    },
    checkpoint: (deliveryId, data) => rt.saveCheckpoint(deliveryId, data),
    steps: {
      claim: (deliveryId, step, forMs) =>
        rt.claimStep
          ? rt.claimStep(deliveryId, step, forMs)
          : Promise.resolve(claimInProcess(`${deliveryId} ${step}`, now(), forMs)),
      release: async (deliveryId, step) => {
        if (rt.releaseStep) await rt.releaseStep(deliveryId, step);
        else inProcessClaims.delete(`${deliveryId} ${step}`);
      },
    },
    async callbackUrl(deliveryId) {
      if (!rt.callbackBaseUrl || !rt.callbackSigningKey) return undefined;
      const token = callbackToken(await rt.callbackSigningKey(), plugin.id, deliveryId);
      return `${rt.callbackBaseUrl.replace(/\/$/, '')}/callbacks/${plugin.id}/${token}`;
    },
    signal,
    now,
    log: rt.log.child({ destination: destination.name, vendor: plugin.id }),
  };
}
