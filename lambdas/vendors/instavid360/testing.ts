/**
 * A VendorContext for the plug-in's own tests: real HTTP (undici) to a simulator, everything else in memory
 * (objects, the shared cache, checkpoints, the results sink with S3Results' rule that a superseded source
 * version's result is not written: set `current` to make a newer version the key's current one), and a clock
 * the test moves. The end-to-end tests (test/e2e/instavid360*.e2e.test.ts) run the real one.
 */
import { Readable } from 'node:stream';
import { Agent } from 'undici';
import { sendRequest } from '#commons/http.ts';
import { createLogger } from '#commons/logger.ts';
import { sameVersion } from '#domain/delivery.ts';
import type { JsonObject, ObjectRef, VendorContext } from '../types.ts';

export interface StoredResult {
  body: Buffer;
  contentType: string;
  metadata: Record<string, string>;
}

export interface TestContext {
  ctx: VendorContext;
  objects: Map<string, Buffer>;
  cache: Map<string, JsonObject>;
  checkpoints: Map<string, JsonObject>;
  results: Map<string, StoredResult>;
  /** Every write the sink made, in order. */
  resultWrites: string[];
  /** `bucket/key` → the key's current version, when a test uploaded a newer one (else the delivery's is). */
  current: Map<string, { versionId?: string; etag: string }>;
  /** Step claims: `deliveryId step` → until (ms). */
  claims: Map<string, number>;
  clock: { now: number };
  stop(): Promise<void>;
}

export function testContext(options: {
  baseUrl: string;
  options: JsonObject;
  token: string;
  callbackBase?: string;
}): TestContext {
  const agent = new Agent({ keepAliveTimeout: 1_000 });
  const objects = new Map<string, Buffer>();
  const cache = new Map<string, JsonObject>();
  const checkpoints = new Map<string, JsonObject>();
  const results = new Map<string, StoredResult>();
  const resultWrites: string[] = [];
  const current = new Map<string, { versionId?: string; etag: string }>();
  const claims = new Map<string, number>();
  const clock = { now: Date.now() };
  const signal = new AbortController().signal;
  const bytesOf = (ref: ObjectRef) => {
    const b = objects.get(`${ref.bucket}/${ref.key}`);
    if (!b) throw Object.assign(new Error(`no object ${ref.bucket}/${ref.key}`), { name: 'NoSuchKey' });
    return b;
  };
  const ctx: VendorContext = {
    destination: {
      name: 'iv-test',
      vendor: 'instavid360',
      baseUrl: options.baseUrl,
      options: options.options,
    },
    request: (req) => sendRequest(agent, req, signal),
    http: agent,
    apiKey: async () => options.token,
    objects: {
      range: async (ref, start, end) => bytesOf(ref).subarray(start, end),
      stream: async (ref) => Readable.from([bytesOf(ref)]),
    },
    results: {
      async put(input) {
        const key = `results/${input.key}`;
        const now = current.get(`${input.source.bucket}/${input.source.key}`);
        if (now && !sameVersion(input.source, now)) return { written: false, superseded: now };
        const chunks: Buffer[] = [];
        if (Buffer.isBuffer(input.body)) chunks.push(input.body);
        else for await (const c of input.body) chunks.push(c as Buffer);
        results.set(key, {
          body: Buffer.concat(chunks),
          contentType: input.contentType,
          metadata: input.metadata ?? {},
        });
        resultWrites.push(key);
        return { written: true, bucket: 'results-bucket', key };
      },
    },
    cache: {
      get: async (k) => cache.get(k),
      put: async (k, v) => {
        cache.set(k, v);
      },
      delete: async (k) => {
        cache.delete(k);
      },
    },
    throttle: async () => {},
    checkpoint: async (id, data) => {
      checkpoints.set(id, data);
    },
    steps: {
      claim: async (id, step, forMs) => {
        const held = claims.get(`${id} ${step}`);
        if (held !== undefined && held >= clock.now) return false;
        claims.set(`${id} ${step}`, clock.now + forMs);
        return true;
      },
      release: async (id, step) => {
        claims.delete(`${id} ${step}`);
      },
    },
    callbackUrl: async (id) =>
      options.callbackBase ? `${options.callbackBase}/callbacks/instavid360/${id}.test-signature` : undefined,
    signal,
    now: () => clock.now,
    log: createLogger({}, { level: 'error', sink: () => {} }),
  };
  return {
    ctx,
    objects,
    cache,
    checkpoints,
    results,
    resultWrites,
    current,
    claims,
    clock,
    stop: () => agent.close(),
  };
}

/** A minimal config with one InstaVid360 destination (`iv`, stream `a:s`, keys `a/{serial}.{ext}`). */
export function ivConfig(options: JsonObject, fields: JsonObject = {}) {
  return {
    version: 1 as const,
    data_receiver: [
      {
        data_receiver_name: 'r',
        protocol: 's3' as const,
        streams: [{ asset: 'a', stream_type: 's', key_pattern: 'a/{serial}.{ext}' }],
      },
    ],
    data_transmit: [
      {
        transmit_name: 'iv',
        transmit_type: 'instavid360',
        filter_stream: ['a:s'],
        base_url: 'https://image-api.instavid360.com',
        api_key_secret: 'relay/iv',
        options,
        fields,
      },
    ],
  };
}
