/**
 * Test helpers for the V7 plug-in: a VendorContext built by the core's own `createVendorContext` over an
 * in-memory object store (counting every read) and checkpoints kept in a map, talking to a V7 Darwin simulator
 * over real HTTP. A "delivery attempt" is one `deliver` call; the next attempt gets the checkpoint the last one
 * saved, as the forwarder would give it.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { TestContext } from 'node:test';
import { Agent } from 'undici';
import { createLogger } from '#commons/logger.ts';
import type { DataTransmit } from '#domain/config/types.ts';
import { createVendorContext, type VendorRuntime } from '#domain/vendor-context.ts';
import { type V7DarwinOptions, V7DarwinSimulator } from '#simulators/v7-darwin/index.ts';
import type {
  DeliveryJob,
  DeliveryOutcome,
  JsonObject,
  ObjectRef,
  VendorAnswer,
  VendorRequest,
} from '../types.ts';
import { v7Darwin } from './index.ts';

/** Obviously fake keys. */
export const KEY = 'test-v7-key-not-a-secret';
export const OTHER_KEY = 'test-v7-other-key-not-a-secret';

export function simOptions(extra: Partial<V7DarwinOptions> = {}): V7DarwinOptions {
  return {
    seed: 11,
    apiKeys: { [KEY]: { team: 'acme' }, [OTHER_KEY]: { team: 'globex' } },
    teams: {
      acme: {
        datasets: ['line-1', 'line-2'],
        storages: ['acme-bucket', { name: 'acme-readonly', readonly: true }],
        tags: ['defect', 'ok', 'aoi-top'],
      },
      globex: { datasets: ['theirs'] },
    },
    s3IdleTimeoutMs: 2_000,
    ...extra,
  };
}

export interface Sent {
  method: string;
  url: URL;
  headers: Record<string, string>;
  /** The body when it was text (the /api JSON); the PUT's stream is not kept. */
  text?: string;
}

export interface PluginHarness {
  sim: V7DarwinSimulator;
  url: string;
  /** Every request the plug-in sent, in order. */
  sent: Sent[];
  /** Object reads (streams and ranges) per key. */
  reads: Map<string, number>;
  checkpoints: Map<string, JsonObject>;
  /** An object the plug-in may read, and a job for it. */
  job(key: string, body: Buffer, fields?: JsonObject, bucket?: string): DeliveryJob;
  /** One delivery attempt of `jobs` (each gets its latest checkpoint and its attempt number). */
  attempt(jobs: DeliveryJob[], options?: JsonObject): Promise<DeliveryOutcome[]>;
}

export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export async function pluginHarness(
  t: TestContext,
  opts: {
    sim?: Partial<V7DarwinOptions>;
    options?: JsonObject;
    key?: string;
    /** A `rate_limit` on the destination and what the shared bucket answers (default: always a token). */
    takeToken?: VendorRuntime['takeToken'];
  } = {},
): Promise<PluginHarness> {
  const sim = new V7DarwinSimulator(simOptions(opts.sim));
  const url = await sim.start();
  const http = new Agent({ connections: 16 });
  t.after(async () => {
    await sim.stop();
    await http.close();
  });
  const bodies = new Map<string, Buffer>();
  const reads = new Map<string, number>();
  const checkpoints = new Map<string, JsonObject>();
  const attempts = new Map<string, number>();
  const sent: Sent[] = [];
  const count = (ref: ObjectRef) => reads.set(ref.key, (reads.get(ref.key) ?? 0) + 1);
  const bodyOf = (ref: ObjectRef): Buffer => {
    const b = bodies.get(`${ref.bucket}/${ref.key}`);
    if (!b) throw Object.assign(new Error('NoSuchKey'), { name: 'NoSuchKey' });
    return b;
  };
  const rt: VendorRuntime = {
    http,
    objects: {
      async range(ref, start, end) {
        count(ref);
        return bodyOf(ref).subarray(start, end);
      },
      async stream(ref) {
        count(ref);
        // Small chunks, as S3 streams them: the body is never one buffer.
        const b = bodyOf(ref);
        const chunks: Buffer[] = [];
        for (let i = 0; i < b.length; i += 16 * 1024) chunks.push(b.subarray(i, i + 16 * 1024));
        return Readable.from(chunks, { objectMode: false });
      },
    },
    results: { put: () => Promise.reject(new Error('V7 writes no results')) },
    apiKey: async () => opts.key ?? KEY,
    takeToken: opts.takeToken ?? (async () => ({ ok: true })),
    saveCheckpoint: async (id, data) => {
      checkpoints.set(id, data);
    },
    cache: { get: async () => undefined, put: async () => undefined, delete: async () => undefined },
    log: createLogger({}, { level: 'error', sink: () => undefined }),
  };
  const transmit = (options: JsonObject): DataTransmit => ({
    transmit_name: 'v7-test',
    transmit_type: 'v7-darwin',
    filter_stream: ['*'],
    base_url: url,
    api_key_secret: 'tests/v7',
    options,
    fields: {},
    ...(opts.takeToken ? { rate_limit: { burst: 10, per_second: 10 } } : {}),
  });
  let n = 0;
  return {
    sim,
    url,
    sent,
    reads,
    checkpoints,
    job(key, body, fields = {}, bucket = 'ingest') {
      bodies.set(`${bucket}/${key}`, body);
      const name = key.split('/').pop() ?? key;
      return {
        deliveryId: `d${++n}`,
        destination: 'v7-test',
        object: { bucket, key, etag: sha256(body).slice(0, 32), size: body.length },
        fields: { name, ...fields },
        attempt: 1,
        ambiguousSends: 0,
      };
    },
    async attempt(jobs, options = opts.options ?? { team_slug: 'acme', dataset_slug: 'line-1' }) {
      const ctx = createVendorContext(transmit(options), v7Darwin, rt, AbortSignal.timeout(120_000));
      const request = ctx.request;
      ctx.request = async (req: VendorRequest): Promise<VendorAnswer> => {
        sent.push({
          method: req.method,
          url: req.url,
          headers: { ...(req.headers ?? {}) },
          ...(typeof req.body === 'string' ? { text: req.body } : {}),
        });
        return request(req);
      };
      const withState = jobs.map((j) => {
        const attempt = (attempts.get(j.deliveryId) ?? 0) + 1;
        attempts.set(j.deliveryId, attempt);
        const cp = checkpoints.get(j.deliveryId);
        return { ...j, attempt, ...(cp ? { checkpoint: cp } : {}) };
      });
      return v7Darwin.deliver(withState, ctx);
    },
  };
}
