/**
 * The Edge Impulse plug-in: its documented rules (pre-flight, headers, answers) as pure functions, and its
 * `deliver` over HTTP against the Edge Impulse simulator, through the core's own vendor context.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, beforeEach, describe, it } from 'node:test';
import { Agent } from 'undici';
import { createLogger } from '#commons/logger.ts';
import type { DataTransmit } from '#domain/config/types.ts';
import { createVendorContext } from '#domain/vendor-context.ts';
import { EdgeImpulseSimulator, CATEGORIES as SIM_CATEGORIES } from '#simulators/edge-impulse/index.ts';
import { makeJpeg, makePng } from '#simulators/media/index.ts';
import type {
  DeliveryJob,
  DeliveryOutcome,
  Destination,
  JsonObject,
  ObjectRef,
  VendorContext,
} from '../types.ts';
import { EDGE_IMPULSE_ASSUMPTIONS as A } from './assumptions.ts';
import {
  CATEGORIES,
  checkCredentials,
  classifyFile,
  classifyRequest,
  edgeImpulse,
  fieldsSchema,
  groupKey,
  MAX_FILES_PER_REQUEST,
  matchResults,
  optionsSchema,
  requestHeaders,
  requestsOf,
  sampleOf,
  sendBudgetMs,
} from './index.ts';

const KEY = 'ei_unit_test_key_not_real';
const destination: Destination = {
  name: 'ei',
  vendor: 'edge-impulse',
  baseUrl: 'http://127.0.0.1:1',
  options: {},
};
const ref = (key: string, size: number): ObjectRef => ({ bucket: 'b', key, etag: `e-${key}`, size });
const answer = (status: number, body: unknown = '', headers: Record<string, string> = {}) =>
  ({
    kind: 'answer',
    status,
    text: typeof body === 'string' ? body : JSON.stringify(body),
    headers,
  }) as const;

/** The pre-flight from the object's size and name alone: a reader that fails if anything is read. */
const check = (key: string, size: number, fields: JsonObject = { label: 'ok' }, options: JsonObject = {}) =>
  edgeImpulse.preflight?.check({
    object: ref(key, size),
    head: Buffer.alloc(0),
    reader: {
      size,
      read: async () => {
        throw new Error('the Edge Impulse pre-flight reads nothing');
      },
    },
    fields,
    destination: { ...destination, options },
  });

describe('Edge Impulse pre-flight (§1.1, no vendor call, nothing read)', () => {
  it('reads no bytes of the object: Edge Impulse sniffs content itself', () => {
    assert.equal(edgeImpulse.preflight?.headBytes, 0);
  });
  it('passes the extensions Edge Impulse takes, in any case', async () => {
    for (const ext of ['jpg', 'JPEG', 'png', 'wav', 'csv', 'txt', 'json', 'cbor', 'mp4', 'avi', 'parquet'])
      assert.equal(await check(`a/b.${ext}`, 10), undefined, ext);
  });
  it('passes a PNG saved under .jpg (Edge Impulse stores what the content is)', async () => {
    assert.equal(await check('line-1/aoi/SN1.jpg', makePng({ width: 8, height: 8 }).length), undefined);
  });
  it('refuses other extensions, label files and names without one', async () => {
    for (const key of ['a/b.bmp', 'a/bounding_boxes.labels', 'a/noext', 'a/b.jpg.tmp']) {
      assert.equal((await check(key, 10))?.code, 'UNSUPPORTED_EXTENSION', key);
    }
  });
  it('checks the name it will send: a fileName field decides, not the key', async () => {
    assert.equal(
      (await check('a/b.jpg', 10, { label: 'x', fileName: 'b.bmp' }))?.code,
      'UNSUPPORTED_EXTENSION',
    );
    assert.equal(await check('a/b.bin', 10, { label: 'x', fileName: 'b.png' }), undefined);
  });
  it('refuses a 150 MB object from its size alone; 100 MB is 100,000,000 bytes', async () => {
    const big = await check('a/b.mp4', 150_000_000);
    assert.equal(big?.code, 'FILE_TOO_LARGE');
    assert.match(
      big?.message ?? '',
      /150000000 bytes is over Edge Impulse's limit of 100 MB \(100000000 bytes\)/,
    );
    assert.equal(await check('a/b.mp4', 100_000_000), undefined);
    assert.equal((await check('a/b.mp4', 100_000_001))?.code, 'FILE_TOO_LARGE');
  });
  it('refuses empty objects', async () => {
    assert.equal((await check('a/b.jpg', 0))?.code, 'EMPTY_FILE');
  });
  it('refuses label and metadata that would not fit in the request headers', async () => {
    const metadata = { note: 'x'.repeat(A.maxHeaderBytes) };
    assert.equal((await check('a/b.jpg', 10, { label: 'ok', metadata }))?.code, 'METADATA_TOO_LARGE');
  });
});

describe('Edge Impulse fields → request headers (§1.1)', () => {
  const job = (fields: JsonObject, key = 'line-1/aoi/SN1_x.jpg') =>
    ({ fields, object: ref(key, 1) }) as Pick<DeliveryJob, 'fields' | 'object'>;

  it('URL-encodes the label as the official CLI does (non-ASCII, spaces, /, %)', () => {
    const h = requestHeaders(sampleOf(job({ label: 'rayure / scratch ü 100%' }), destination), {});
    assert.equal(h['x-label'], 'rayure%20%2F%20scratch%20%C3%BC%20100%25');
    assert.equal(decodeURIComponent(h['x-label'] ?? ''), 'rayure / scratch ü 100%');
  });
  it('label false: an empty label and x-no-label, so that none is inferred from the file name', () => {
    const h = requestHeaders(sampleOf(job({ label: false }), destination), {});
    assert.equal(h['x-label'], '');
    assert.equal(h['x-no-label'], '1');
  });
  it('refuses duplicates unless the destination allows them; x-add-date-id on request', () => {
    const s = sampleOf(job({ label: 'ok' }), destination);
    assert.equal(requestHeaders(s, {})['x-disallow-duplicates'], '1');
    assert.equal(requestHeaders(s, { allowDuplicates: true })['x-disallow-duplicates'], undefined);
    assert.equal(requestHeaders(s, {})['x-add-date-id'], undefined);
    assert.equal(requestHeaders(s, { addDateId: true })['x-add-date-id'], '1');
  });
  it('metadata: string → string in ASCII-only JSON (numbers and booleans as text)', () => {
    const s = sampleOf(
      job({ label: 'ok', metadata: { station: 'Prüfstand 3', shift: 2, rework: false } }),
      destination,
    );
    const header = requestHeaders(s, {})['x-metadata'] ?? '';
    assert.match(header, /^[\x20-\x7e]*$/);
    assert.deepEqual(JSON.parse(header), { rework: 'false', shift: '2', station: 'Prüfstand 3' });
    const far = requestHeaders(sampleOf(job({ label: 'ok', metadata: { a: '日本 😀' } }), destination), {});
    assert.equal(far['x-metadata'], '{"a":"\\u65e5\\u672c \\ud83d\\ude00"}');
  });
  it('category from the file, else the destination, else training', () => {
    assert.equal(sampleOf(job({ label: 'a', category: 'testing' }), destination).category, 'testing');
    assert.equal(
      sampleOf(job({ label: 'a' }), { ...destination, options: { category: 'anomaly' } }).category,
      'anomaly',
    );
    assert.equal(sampleOf(job({ label: 'a' }), destination).category, 'training');
  });
  it('groups files that share category, label and metadata (in any key order)', () => {
    const k = (fields: JsonObject) => groupKey(job(fields) as DeliveryJob, destination);
    assert.equal(
      k({ label: 'a', metadata: { x: '1', y: '2' } }),
      k({ label: 'a', metadata: { y: '2', x: '1' } }),
    );
    assert.notEqual(k({ label: 'a' }), k({ label: 'b' }));
    assert.notEqual(k({ label: 'a' }), k({ label: false }));
    assert.notEqual(k({ label: 'a' }), k({ label: 'a', category: 'testing' }));
    assert.notEqual(k({ label: 'a', metadata: { x: '1' } }), k({ label: 'a', metadata: { x: '2' } }));
    // bounding boxes and file names are per sample: they do not split requests
    assert.equal(k({ label: 'a' }), k({ label: 'a', boundingBoxes: [], fileName: 'other.jpg' }));
  });
});

describe('Edge Impulse per-file results are matched to the files sent', () => {
  const ok = (sampleId: number, fileName: string) => ({ success: true, sampleId, fileName, projectId: 1 });
  const failed = { success: false, error: 'An item with this hash already exists (ids: 7)' };
  const sent = ['a.jpg', 'b.jpg', 'c.jpg'];
  it('in order: every named result names the file sent at its place (failed results name none)', () => {
    const files = [ok(1, 'a.jpg'), failed, ok(3, 'c.jpg')];
    assert.deepEqual(matchResults(sent, files, false), { files, inOrder: true });
    assert.equal(A.resultsInPartOrder, true);
  });
  it('out of order: matched by name when every result names one file sent', () => {
    const m = matchResults(sent, [ok(3, 'c.jpg'), ok(1, 'a.jpg'), ok(2, 'b.jpg')], false);
    assert.deepEqual(m, { files: [ok(1, 'a.jpg'), ok(2, 'b.jpg'), ok(3, 'c.jpg')], inOrder: false });
  });
  it('out of order with a result that names no file, or names one twice, or another file: no match', () => {
    assert.equal(matchResults(sent, [ok(3, 'c.jpg'), failed, ok(1, 'a.jpg')], false), undefined);
    assert.equal(matchResults(sent, [ok(2, 'b.jpg'), ok(1, 'a.jpg'), ok(3, 'a.jpg')], false), undefined);
    assert.equal(matchResults(sent, [ok(1, 'a.jpg'), ok(2, 'x.jpg'), ok(3, 'c.jpg')], false), undefined);
    assert.equal(matchResults(sent, [ok(1, 'a.jpg')], false), undefined);
  });
  it('with x-add-date-id, a stored name answers for the name sent without its id', () => {
    assert.deepEqual([...A.dateIdPlaces], ['before-extension', 'end']);
    const names = ['a.jpg', 'a.b.jpg'];
    const renamed = [ok(1, 'a.2ccv5m2f.jpg'), ok(2, 'a.b.k3j4h5g6.jpg')];
    assert.deepEqual(matchResults(names, renamed, true)?.inOrder, true);
    assert.deepEqual(matchResults(names, [...renamed].reverse(), true)?.files, renamed);
    assert.deepEqual(
      matchResults(names, [ok(1, 'a.jpg.2ccv5m2f'), ok(2, 'a.b.jpg.k3j4h5g6')], true)?.inOrder,
      true,
    );
    assert.equal(matchResults(names, renamed, false), undefined, 'without the option a name is taken as is');
  });
});

describe('Edge Impulse batching bounds', () => {
  it('a request holds at most 1000 files, 200 MB, and each file name once', () => {
    const items = (n: number, size: number, name = (i: number) => `f${i}.jpg`) =>
      Array.from({ length: n }, (_, i) => ({ fileName: name(i), size }));
    assert.deepEqual(
      requestsOf(items(2500, 10)).map((r) => r.length),
      [1000, 1000, 500],
    );
    assert.deepEqual(
      requestsOf(items(5, 60_000_000)).map((r) => r.length),
      [3, 2],
    );
    assert.deepEqual(
      requestsOf(items(4, 10, (i) => (i < 3 ? 'same.jpg' : 'other.jpg'))).map((r) =>
        r.map((x) => x.fileName),
      ),
      [['same.jpg', 'other.jpg'], ['same.jpg'], ['same.jpg']],
    );
    assert.equal(edgeImpulse.maxBatch, MAX_FILES_PER_REQUEST);
    assert.equal(edgeImpulse.maxBatchBytes, A.maxRequestBytes);
  });
  it('the bounding_boxes.labels part counts towards the 1000 files of a request', () => {
    const items = (n: number, labelled: (i: number) => boolean) =>
      Array.from({ length: n }, (_, i) => ({ fileName: `f${i}.jpg`, size: 10, labelled: labelled(i) }));
    const sizes = (r: Array<Array<{ labelled: boolean }>>) =>
      r.map((x) => x.length + (x.some((i) => i.labelled) ? 1 : 0));
    assert.deepEqual(sizes(requestsOf(items(1000, () => true))), [1000, 2]);
    assert.deepEqual(sizes(requestsOf(items(1000, (i) => i === 999))), [999, 2]);
    assert.deepEqual(sizes(requestsOf(items(1000, () => false))), [1000]);
    assert.deepEqual(sizes(requestsOf(items(2000, (i) => i % 2 === 0))), [1000, 1000, 3]);
  });
  it("the largest request's time budget is under a quarter of the forwarder's timeout", () => {
    const each = Math.floor(A.maxRequestBytes / MAX_FILES_PER_REQUEST);
    const jobs = Array.from({ length: MAX_FILES_PER_REQUEST }, (_, i) => ({ object: ref(`k${i}`, each) }));
    const budget = sendBudgetMs(jobs);
    const timeoutMs = (edgeImpulse.infra?.timeoutSeconds ?? 0) * 1000;
    assert.ok(budget <= timeoutMs / 4, `${budget} ms > ${timeoutMs / 4} ms`);
    assert.ok(sendBudgetMs([{ object: ref('one', A.maxFileBytes) }]) <= timeoutMs / 4);
  });
  it('the event source gathers a burst for a short window, up to 1000 files', () => {
    assert.equal(edgeImpulse.infra?.batchSize, MAX_FILES_PER_REQUEST);
    const window = edgeImpulse.infra?.batchingWindowSeconds ?? 0;
    assert.ok(window >= 1 && window <= 5, `${window} s`);
  });
});

describe('Edge Impulse answers → outcomes (§1.1, §1.5)', () => {
  it('maps each files[i]: success, duplicate (present, with the sample that holds it), other error', () => {
    assert.deepEqual(classifyFile({ success: true, sampleId: 42, fileName: 'a.jpg', projectId: 1 }), {
      kind: 'accepted',
      status: 'UPLOADED',
      vendorRef: '42',
      detail: { fileName: 'a.jpg', projectId: 1 },
    });
    const dup = classifyFile({ success: false, error: 'An item with this hash already exists (ids: 7, 9)' });
    assert.equal(dup.kind, 'present');
    assert.equal(dup.kind === 'present' && dup.vendorRef, '7');
    assert.equal(dup.kind === 'present' && dup.error.code, 'DUPLICATE');
    const bad = classifyFile({ success: false, error: 'File "a.jpg" is not a valid image (JPEG or PNG)' });
    assert.deepEqual(bad, {
      kind: 'rejected',
      error: {
        code: 'SAMPLE_REJECTED',
        message: 'File "a.jpg" is not a valid image (JPEG or PNG)',
        httpStatus: 200,
      },
    });
  });
  it('a file result that is neither success:true with an id nor success:false: ambiguous, naming the field', () => {
    for (const [entry, says] of [
      [{ success: 'true', sampleId: 42 }, /success "true"/],
      [{ success: 1, sampleId: 42 }, /success 1/],
      [{ sampleId: 42 }, /success missing/],
      [null, /not an object/],
      ['ok', /not an object/],
      [{ success: true }, /no sample id/],
    ] as const) {
      const o = classifyFile(entry);
      assert.equal(o.kind, 'retry', JSON.stringify(entry));
      assert.equal(o.kind === 'retry' && o.ambiguous, true, JSON.stringify(entry));
      assert.equal(o.kind === 'retry' && o.error.code, 'BAD_VENDOR_RESPONSE');
      assert.match(o.kind === 'retry' ? o.error.message : '', says);
    }
    // success:false is the vendor's refusal, with its reason or the entry when it gave none.
    const none = classifyFile({ success: false });
    assert.equal(none.kind === 'rejected' && none.error.code, 'SAMPLE_REJECTED');
    assert.match(none.kind === 'rejected' ? none.error.message : '', /no reason given/);
  });
  it('any 2xx is read as a 200: per-file results, or an ambiguous BAD_VENDOR_RESPONSE, never REJECTED', () => {
    for (const status of [201, 202, 207]) {
      const v = classifyRequest(answer(status, { success: true, files: [{}] }), 1);
      assert.equal(v.kind, 'per-file', String(status));
    }
    for (const [status, body] of [
      [204, ''],
      [201, 'created'],
    ] as const) {
      const v = classifyRequest(answer(status, body), 1);
      assert.equal(v.kind === 'all' && v.outcome.kind === 'retry' && v.outcome.ambiguous, true);
      assert.equal(
        v.kind === 'all' && v.outcome.kind === 'retry' && v.outcome.error.code,
        'BAD_VENDOR_RESPONSE',
      );
    }
  });
  it('a 3xx holds the destination (ENDPOINT_MOVED, with Location); 408 is an ambiguous retry', () => {
    const moved = classifyRequest(answer(308, '', { location: 'https://ingestion.example/api' }), 1);
    assert.equal(moved.kind === 'all' && moved.outcome.kind, 'hold');
    assert.equal(
      moved.kind === 'all' && moved.outcome.kind === 'hold' && moved.outcome.error.code,
      'ENDPOINT_MOVED',
    );
    assert.match(
      moved.kind === 'all' && moved.outcome.kind === 'hold' ? moved.outcome.error.message : '',
      /https:\/\/ingestion\.example\/api/,
    );
    const timeout = classifyRequest(answer(408, 'timeout'), 1);
    assert.equal(
      timeout.kind === 'all' && timeout.outcome.kind === 'retry' && timeout.outcome.ambiguous,
      true,
    );
  });
  it('a 200 with one result per file is per-file; without, the vendor may hold them: ambiguous retry', () => {
    assert.equal(classifyRequest(answer(200, { success: true, files: [{}, {}] }), 2).kind, 'per-file');
    for (const body of [{ success: true, files: [{}] }, 'not json', { files: 'x' }]) {
      const v = classifyRequest(answer(200, body), 2);
      assert.equal(v.kind === 'all' && v.outcome.kind === 'retry' && v.outcome.ambiguous, true);
    }
  });
  it('a refused request (400, 413, 200 with success:false) is split to find its cause', () => {
    for (const a of [
      answer(400, { success: false, error: 'File "x" is too large' }),
      answer(413, 'Payload Too Large'),
      answer(200, { success: false, error: 'Something went wrong' }),
    ]) {
      const v = classifyRequest(a, 3);
      assert.equal(v.kind, 'refused');
    }
  });
  it('401 and 403 hold the destination; 404 too (a wrong base_url or category)', () => {
    for (const status of [401, 403, 404]) {
      const v = classifyRequest(answer(status, { success: false, error: 'Invalid API key' }), 1);
      assert.equal(v.kind === 'all' && v.outcome.kind, 'hold', String(status));
    }
  });
  it('421 (missing header) and other 4xx are rejected; 429 and 5xx retried with Retry-After', () => {
    const v421 = classifyRequest(answer(421, 'Missing "x-file-name" header'), 1);
    assert.equal(
      v421.kind === 'all' && v421.outcome.kind === 'rejected' && v421.outcome.error.code,
      'MISSING_HEADER',
    );
    const v500 = classifyRequest(answer(503, 'busy', { 'retry-after': '3' }), 1);
    assert.deepEqual(v500.kind === 'all' && v500.outcome, {
      kind: 'retry',
      retryAfterMs: 3000,
      error: { code: 'VENDOR_UNAVAILABLE', message: 'Edge Impulse answered 503: busy', httpStatus: 503 },
    });
  });
  it('keys: ei_… only', () => {
    assert.equal(checkCredentials('ei_0123abcd'), undefined);
    assert.match(checkCredentials('INST:V1:a:b') ?? '', /not an Edge Impulse API key/);
  });
  it('the categories are those the ingestion API routes, and both schemas take every one', () => {
    assert.deepEqual([...CATEGORIES].sort(), [...SIM_CATEGORIES].sort());
    const fieldEnum = (fieldsSchema.properties as Record<string, { enum: string[] }>).category?.enum;
    const optionEnum = (optionsSchema.properties as Record<string, { enum: string[] }>).category?.enum;
    assert.deepEqual(fieldEnum, [...CATEGORIES]);
    assert.deepEqual(optionEnum, [...CATEGORIES]);
  });
});

// ---------------------------------------------------------------------------------------------------------
// deliver() over HTTP against the simulator

interface Harness {
  sim: EdgeImpulseSimulator;
  url: string;
  objects: Map<string, Buffer>;
  /** Sources open at this moment, and the most ever open at once. */
  open: { now: number; max: number; chunks: number };
  ctx(options?: JsonObject, baseUrl?: string): VendorContext;
  job(key: string, body: Buffer, fields: JsonObject, extra?: Partial<DeliveryJob>): DeliveryJob;
  stop(): Promise<void>;
}

async function startHarness(simOptions: ConstructorParameters<typeof EdgeImpulseSimulator>[0] = {}) {
  const sim = new EdgeImpulseSimulator({ seed: 3, apiKeys: { [KEY]: { projectId: 1 } }, ...simOptions });
  const url = await sim.start();
  const http = new Agent({ connections: 4 });
  const objects = new Map<string, Buffer>();
  const open = { now: 0, max: 0, chunks: 0 };
  const log = createLogger({}, { level: 'error', sink: () => {} });
  const h: Harness = {
    sim,
    url,
    objects,
    open,
    ctx(options = {}, baseUrl = url) {
      const transmit: DataTransmit = {
        transmit_name: 'ei',
        transmit_type: 'edge-impulse',
        filter_stream: ['*'],
        base_url: baseUrl,
        api_key_secret: 'unit/ei',
        options,
        fields: {},
      };
      return createVendorContext(
        transmit,
        edgeImpulse,
        {
          http,
          objects: {
            range: async (r, s, e) => (objects.get(r.key) as Buffer).subarray(s, e),
            // A source in 16 KiB chunks, counted while open: the body must read them one after another.
            stream: async (r) => {
              const body = objects.get(r.key);
              if (!body) throw new Error(`no object ${r.key}`);
              open.now++;
              open.max = Math.max(open.max, open.now);
              let closed = false;
              const close = () => {
                if (!closed) open.now--;
                closed = true;
              };
              const src = Readable.from(
                (function* () {
                  for (let i = 0; i < body.length; i += 16 * 1024) {
                    open.chunks++;
                    yield body.subarray(i, i + 16 * 1024);
                  }
                })(),
                { objectMode: false },
              );
              src.once('close', close);
              return src;
            },
          },
          results: { put: async () => ({ written: true, bucket: 'r', key: 'k' }) },
          apiKey: async () => KEY,
          takeToken: async () => ({ ok: true }),
          saveCheckpoint: async () => undefined,
          cache: { get: async () => undefined, put: async () => undefined, delete: async () => undefined },
          log,
        },
        AbortSignal.timeout(60_000),
      );
    },
    job(key, body, fields, extra = {}) {
      objects.set(key, body);
      return {
        deliveryId: `id-${key}`,
        destination: 'ei',
        object: ref(key, body.length),
        fields,
        attempt: 1,
        ambiguousSends: 0,
        ...extra,
      };
    },
    async stop() {
      await sim.stop();
      await http.close();
    },
  };
  return h;
}

const kinds = (outcomes: DeliveryOutcome[]) => outcomes.map((o) => o.kind);
const jpeg = (seed: number) => makeJpeg({ width: 16, height: 16, seed });

describe('Edge Impulse deliver() against the simulator', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(() => h.stop());
  beforeEach(() => h.sim.reset());

  it('one request for a batch: successes, a duplicate and a bad file get three different outcomes', async () => {
    const existing = jpeg(1);
    const seeded = await edgeImpulse.deliver([h.job('a/old.jpg', existing, { label: 'ok' })], h.ctx());
    assert.deepEqual(kinds(seeded), ['accepted']);
    const [old] = h.sim.samples(1);

    const jobs = [
      h.job('a/SN1.jpg', jpeg(2), { label: 'ok' }),
      h.job('a/again.jpg', existing, { label: 'ok' }),
      h.job('a/broken.jpg', Buffer.from('this is not an image'), { label: 'ok' }),
      h.job('a/export.png.4arrb5vg.jpg', makePng({ width: 8, height: 8 }), { label: 'ok' }),
    ];
    const outcomes = await edgeImpulse.deliver(jobs, h.ctx());
    assert.equal(h.sim.requestsTo('ingestFiles').length, 2, 'the seeding request, then one for the batch');
    assert.deepEqual(kinds(outcomes), ['accepted', 'present', 'rejected', 'accepted']);
    const [ok, dup, bad, png] = outcomes;
    const stored = h.sim.samples(1);
    assert.equal(
      ok?.kind === 'accepted' && ok.vendorRef,
      String(stored.find((s) => s.fileName === 'SN1.jpg')?.sampleId),
    );
    assert.equal(dup?.kind === 'present' && dup.vendorRef, String(old?.sampleId));
    assert.match(dup?.kind === 'present' ? dup.error.message : '', /^An item with this hash already exists/);
    assert.equal(bad?.kind === 'rejected' && bad.error.code, 'SAMPLE_REJECTED');
    assert.match(bad?.kind === 'rejected' ? bad.error.message : '', /broken\.jpg/);
    assert.equal(
      png?.kind === 'accepted' && stored.find((s) => s.sampleId === Number(png.vendorRef))?.kind,
      'png',
    );
  });

  it('labels (non-ASCII, spaces, /), no label, metadata and bounding boxes arrive as sent', async () => {
    const boxes: JsonObject[] = [
      { label: 'scratch', x: 1, y: 2, width: 3, height: 4, score: 0.9 },
      { label: 'dent', x: 0, y: 0, width: 5.5, height: 1 },
    ];
    const outcomes = await edgeImpulse.deliver(
      [
        h.job('a/s1.jpg', jpeg(11), {
          label: 'rayure / scratch ü',
          metadata: { station: 'Prüfstand 3', shift: 2 },
        }),
        h.job('a/s2.jpg', jpeg(12), {
          label: 'rayure / scratch ü',
          metadata: { station: 'Prüfstand 3', shift: 2 },
          boundingBoxes: boxes,
        }),
        h.job('a/s3.jpg', jpeg(13), { label: false, category: 'testing' }),
      ],
      h.ctx({ category: 'anomaly' }),
    );
    assert.deepEqual(kinds(outcomes), ['accepted', 'accepted', 'accepted']);
    const reqs = h.sim.requestsTo('ingestFiles');
    assert.equal(reqs.length, 2, 'one request per set of headers');
    const byName = new Map(h.sim.samples(1).map((s) => [s.fileName, s]));
    assert.equal(byName.get('s1.jpg')?.label, 'rayure / scratch ü');
    assert.deepEqual(byName.get('s1.jpg')?.metadata, { shift: '2', station: 'Prüfstand 3' });
    assert.equal(byName.get('s1.jpg')?.category, 'anomaly');
    assert.deepEqual(byName.get('s1.jpg')?.boundingBoxes, []);
    assert.deepEqual(
      byName.get('s2.jpg')?.boundingBoxes,
      boxes.map(({ label, x, y, width, height }) => ({ label, x, y, width, height })),
    );
    assert.equal(byName.get('s3.jpg')?.label, undefined, 'no label, none inferred from "s3"');
    assert.equal(byName.get('s3.jpg')?.category, 'testing');
    assert.deepEqual(
      reqs.map((r) => r.headers['x-disallow-duplicates']),
      ['1', '1'],
    );
  });

  it('x-add-date-id: the stored name has an id; allowDuplicates: the same bytes are stored again', async () => {
    const body = jpeg(21);
    const ctx = h.ctx({ addDateId: true, allowDuplicates: true });
    const a = await edgeImpulse.deliver([h.job('a/same.jpg', body, { label: 'x' })], ctx);
    const b = await edgeImpulse.deliver([h.job('a/same.jpg', body, { label: 'x' })], ctx);
    assert.deepEqual([...kinds(a), ...kinds(b)], ['accepted', 'accepted']);
    const names = h.sim.samples(1).map((s) => s.fileName);
    assert.equal(names.length, 2);
    for (const n of names) assert.match(n, /^same\.[a-z0-9]{8}\.jpg$/);
    assert.equal(a[0]?.kind === 'accepted' && a[0].detail?.fileName, names[0]);
  });

  it('results answered out of order go to the files they name; unnamed ones out of order: ambiguous retry', async () => {
    const jobs = [h.job('a/o1.jpg', jpeg(71), { label: 'ok' }), h.job('a/o2.jpg', jpeg(72), { label: 'ok' })];
    const answer = (files: unknown[]) => ({
      route: 'ingestFiles',
      status: 200,
      body: { success: true, files },
    });
    h.sim.faults.enqueue(
      answer([
        { success: true, sampleId: 22, fileName: 'o2.jpg', projectId: 1 },
        { success: true, sampleId: 11, fileName: 'o1.jpg', projectId: 1 },
      ]),
    );
    const swapped = await edgeImpulse.deliver(jobs, h.ctx());
    assert.deepEqual(
      swapped.map((o) => o.kind === 'accepted' && o.vendorRef),
      ['11', '22'],
    );
    h.sim.faults.enqueue(
      answer([
        { success: true, sampleId: 22, fileName: 'o2.jpg', projectId: 1 },
        { success: false, error: 'An item with this hash already exists (ids: 5)' },
      ]),
    );
    const unmatched = await edgeImpulse.deliver(jobs, h.ctx());
    for (const o of unmatched) {
      assert.equal(o.kind === 'retry' && o.ambiguous, true, JSON.stringify(o));
      assert.equal(o.kind === 'retry' && o.error.code, 'RESULTS_UNMATCHED');
    }
  });

  it('an answer lost after the vendor stored the batch: ambiguous retry, then the duplicates are the delivery', async () => {
    const jobs = [h.job('a/l1.jpg', jpeg(31), { label: 'ok' }), h.job('a/l2.jpg', jpeg(32), { label: 'ok' })];
    h.sim.faults.enqueue({ route: 'ingestFiles', loseAnswer: true });
    const lost = await edgeImpulse.deliver(jobs, h.ctx());
    for (const o of lost) {
      assert.equal(o.kind, 'retry');
      assert.equal(o.kind === 'retry' && o.ambiguous, true);
      assert.equal(o.kind === 'retry' && o.error.code, 'NO_ANSWER');
    }
    assert.equal(h.sim.samples(1).length, 2, 'the vendor had stored both');
    const again = await edgeImpulse.deliver(
      jobs.map((j) => ({ ...j, attempt: 2, ambiguousSends: 1 })),
      h.ctx(),
    );
    assert.deepEqual(kinds(again), ['present', 'present']);
    assert.equal(h.sim.samples(1).length, 2, 'nothing stored twice');
    const ids = h.sim.samples(1).map((s) => String(s.sampleId));
    assert.deepEqual(
      again.map((o) => (o.kind === 'present' ? o.vendorRef : undefined)),
      ids,
    );
  });

  it('a reset part-way through the upload stores nothing; the retry stores each file once', async () => {
    const jobs = Array.from({ length: 6 }, (_, i) =>
      h.job(`a/r${i}.jpg`, makeJpeg({ width: 64, height: 64, seed: 40 + i, padToBytes: 200_000 }), {
        label: 'ok',
      }),
    );
    h.sim.faults.enqueue({ route: 'ingestFiles', resetAfterBytes: 100_000 });
    const failed = await edgeImpulse.deliver(jobs, h.ctx());
    assert.ok(failed.every((o) => o.kind === 'retry'));
    assert.equal(h.sim.samples(1).length, 0);
    const again = await edgeImpulse.deliver(jobs, h.ctx());
    assert.ok(again.every((o) => o.kind === 'accepted'));
    assert.equal(h.sim.samples(1).length, 6);
  });

  it('401: every job holds the destination, and nothing was stored', async () => {
    h.sim.faults.enqueue({
      route: 'ingestFiles',
      status: 401,
      body: { success: false, error: 'Invalid API key' },
    });
    const outcomes = await edgeImpulse.deliver(
      [h.job('a/k1.jpg', jpeg(51), { label: 'ok' }), h.job('a/k2.jpg', jpeg(52), { label: 'ok' })],
      h.ctx(),
    );
    assert.deepEqual(kinds(outcomes), ['hold', 'hold']);
    assert.equal(outcomes[0]?.kind === 'hold' && outcomes[0].error.code, 'AUTH_FAILED');
  });

  it('a base_url under which the API is not found holds the destination (404)', async () => {
    const outcomes = await edgeImpulse.deliver(
      [h.job('a/p.jpg', jpeg(53), { label: 'ok' })],
      h.ctx({}, `${h.url}/wrong`),
    );
    assert.equal(outcomes[0]?.kind === 'hold' && outcomes[0].error.code, 'ENDPOINT_NOT_FOUND');
  });

  it('a 201 with per-file results is read as a 200; a bad success field is ambiguous, not REJECTED', async () => {
    const jobs = [h.job('a/c1.jpg', jpeg(81), { label: 'ok' }), h.job('a/c2.jpg', jpeg(82), { label: 'ok' })];
    h.sim.faults.enqueue({
      route: 'ingestFiles',
      status: 201,
      body: {
        success: true,
        files: [
          { success: true, sampleId: 31, fileName: 'c1.jpg', projectId: 1 },
          { success: 'true', sampleId: 32, fileName: 'c2.jpg', projectId: 1 },
        ],
      },
    });
    const [ok, odd] = await edgeImpulse.deliver(jobs, h.ctx());
    assert.equal(ok?.kind === 'accepted' && ok.vendorRef, '31');
    assert.equal(odd?.kind === 'retry' && odd.ambiguous, true);
    assert.equal(odd?.kind === 'retry' && odd.error.code, 'BAD_VENDOR_RESPONSE');
  });

  it('a redirect is not followed: every job of the request holds the destination (ENDPOINT_MOVED)', async () => {
    h.sim.faults.enqueue({
      route: 'ingestFiles',
      status: 301,
      headers: { location: 'https://elsewhere.example/' },
    });
    const outcomes = await edgeImpulse.deliver(
      [h.job('a/r1.jpg', jpeg(91), { label: 'ok' }), h.job('a/r2.jpg', jpeg(92), { label: 'ok' })],
      h.ctx(),
    );
    for (const o of outcomes) {
      assert.equal(o.kind === 'hold' && o.error.code, 'ENDPOINT_MOVED');
      assert.match(o.kind === 'hold' ? o.error.message : '', /elsewhere\.example/);
    }
    assert.equal(h.sim.requestsTo('ingestFiles').length, 1, 'one request, not sent elsewhere');
  });

  it('5xx: every job retries, honouring Retry-After', async () => {
    h.sim.faults.enqueue({ route: 'ingestFiles', status: 503, headers: { 'retry-after': '4' } });
    const outcomes = await edgeImpulse.deliver([h.job('a/u.jpg', jpeg(54), { label: 'ok' })], h.ctx());
    assert.equal(outcomes[0]?.kind === 'retry' && outcomes[0].retryAfterMs, 4000);
  });

  it('streams the files part after part: a few sources open at once, however many files', async () => {
    const base = makeJpeg({ width: 32, height: 32, seed: 100, padToBytes: 100_000 });
    const jobs = Array.from({ length: 120 }, (_, i) => {
      const body = Buffer.from(base);
      body.writeUInt32BE(i, body.length - 8); // distinct content (the duplicate check), still a JPEG
      return h.job(`a/m${i}.jpg`, body, { label: 'm' });
    });
    h.open.max = 0;
    h.open.chunks = 0;
    const outcomes = await edgeImpulse.deliver(jobs, h.ctx());
    assert.deepEqual(
      new Set(kinds(outcomes)),
      new Set(['accepted']),
      JSON.stringify(outcomes.find((o) => o.kind !== 'accepted')),
    );
    assert.equal(h.sim.requestsTo('ingestFiles').length, 1);
    assert.equal(h.open.now, 0, 'every source closed');
    assert.ok(h.open.max <= A.openAhead.parts + 1, `${h.open.max} sources open at once`);
    assert.ok(h.open.chunks >= 120 * 7, 'each file read in chunks');
  });
});

describe('Edge Impulse deliver(): a refused request is split until its cause is alone', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ maxFileBytes: 50_000 });
  });
  after(() => h.stop());

  it('one file over the vendor limit: it is rejected, the other files are stored', async () => {
    const jobs = [
      h.job('a/b0.jpg', jpeg(61), { label: 'ok' }),
      h.job('a/b1.jpg', jpeg(62), { label: 'ok' }),
      h.job('a/big.jpg', makeJpeg({ width: 16, height: 16, seed: 63, padToBytes: 60_000 }), { label: 'ok' }),
      h.job('a/b3.jpg', jpeg(64), { label: 'ok' }),
    ];
    const outcomes = await edgeImpulse.deliver(jobs, h.ctx());
    assert.deepEqual(kinds(outcomes), ['accepted', 'accepted', 'rejected', 'accepted']);
    assert.equal(outcomes[2]?.kind === 'rejected' && outcomes[2].error.code, 'REQUEST_REFUSED');
    assert.match(outcomes[2]?.kind === 'rejected' ? outcomes[2].error.message : '', /big\.jpg" is too large/);
    // 4 files → 400; halves [b0 b1] ok, [big b3] → 400; [big] → 400, [b3] ok
    assert.equal(h.sim.requestsTo('ingestFiles').length, 5);
    assert.equal(h.sim.samples(1).length, 3);
  });
});
