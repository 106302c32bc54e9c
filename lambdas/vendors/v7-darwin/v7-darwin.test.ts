/**
 * The V7 plug-in's pure parts: its config (options and fields schemas, checked as `relay validate` checks
 * them), the pre-flight (no object read), the payloads, what each answer means, and its assumptions.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RelayConfig } from '#domain/config/types.ts';
import { validateConfig } from '#domain/config/validate.ts';
import { VENDORS } from '../registry.ts';
import type { PreflightInput } from '../types.ts';
import { failure } from './answers.ts';
import { V7_ASSUMPTIONS } from './assumptions.ts';
import { preflight, v7Darwin } from './index.ts';
import { blockedOutcome } from './register.ts';
import { apiUrl, existingItem, itemOf, normalizePath, settingsOf, uploadItem } from './settings.ts';

function config(
  options: unknown,
  fields: Record<string, unknown> = { name: '{object.basename}' },
): RelayConfig {
  return {
    version: 1,
    data_receiver: [
      {
        data_receiver_name: 'r',
        protocol: 's3',
        streams: [{ asset: 'line-1', stream_type: 'cam', key_pattern: 'line-1/{station}/{serial}.{ext}' }],
      },
    ],
    data_transmit: [
      {
        transmit_name: 'v7',
        transmit_type: 'v7-darwin',
        filter_stream: ['*'],
        base_url: 'https://darwin.v7labs.com',
        api_key_secret: 'factory-relay/v7',
        options: options as never,
        fields: fields as never,
      },
    ],
  };
}
const errors = (c: RelayConfig) =>
  validateConfig(c, VENDORS)
    .violations.filter((v) => v.level === 'error')
    .map((v) => `${v.json_path.join('.')}: ${v.description}`);

describe('V7 destination config', () => {
  it('takes standard upload and External Storage settings, refuses what V7 cannot use', () => {
    assert.deepEqual(errors(config({ team_slug: 'acme', dataset_slug: 'line-1' })), []);
    assert.deepEqual(
      errors(
        config(
          {
            team_slug: 'acme',
            dataset_slug: 'line-1',
            external_storage: { storage_slug: 'acme-bucket', bucket: 'factory-ingest' },
            video: { fps: 'native', as_frames: false },
            upload_concurrency: 8,
          },
          { name: '{serial}.{ext}', path: '/{station}', tags: ['{station}'], storage_key: '{object.key}' },
        ),
      ),
      [],
    );
    const bad = errors(config({ team_slug: 'acme', video: { fps: 0 }, external_storage: {} }));
    assert.ok(
      bad.some((e) => /dataset_slug/.test(e)),
      bad.join('\n'),
    );
    assert.ok(
      bad.some((e) => /storage_slug/.test(e)),
      bad.join('\n'),
    );
    assert.ok(
      bad.some((e) => /fps/.test(e)),
      bad.join('\n'),
    );
    assert.ok(errors(config({ team_slug: 'a b', dataset_slug: 'x' })).length > 0, 'a slug has no spaces');
  });

  it('needs an item name template; knows name, path, tags and storage_key only', () => {
    const missing = errors(config({ team_slug: 'acme', dataset_slug: 'd' }, { path: '/x' }));
    assert.ok(
      missing.some((e) => /name/.test(e)),
      missing.join('\n'),
    );
    const unknown = errors(config({ team_slug: 'acme', dataset_slug: 'd' }, { name: 'x', folder: '/x' }));
    assert.ok(
      unknown.some((e) => /folder/.test(e)),
      unknown.join('\n'),
    );
  });

  it('reads the settings and folders as V7 stores them', () => {
    assert.deepEqual(settingsOf({ team_slug: 'acme', dataset_slug: 'line-1' }), {
      team: 'acme',
      dataset: 'line-1',
      video: {},
      concurrency: V7_ASSUMPTIONS.defaultUploadConcurrency,
    });
    assert.deepEqual(
      settingsOf({
        team_slug: 't',
        dataset_slug: 'd',
        external_storage: { storage_slug: 's' },
        video: { fps: 3, as_frames: true },
        upload_concurrency: 2,
      }),
      {
        team: 't',
        dataset: 'd',
        external: { storage: 's' },
        video: { fps: 3, asFrames: true },
        concurrency: 2,
      },
    );
    assert.equal(normalizePath(undefined), '/');
    assert.equal(normalizePath('line-1//aoi/'), '/line-1/aoi');
    assert.equal(apiUrl('https://darwin.v7labs.com/', '/v2/x').href, 'https://darwin.v7labs.com/api/v2/x');
    assert.equal(apiUrl('https://darwin.v7labs.com/api', '/v2/x').href, 'https://darwin.v7labs.com/api/v2/x');
  });

  it('builds one single-slot item per delivery: the slot keeps the file name, videos get the video options', () => {
    const s = settingsOf({ team_slug: 't', dataset_slug: 'd', video: { fps: 2, as_frames: true } });
    const job = (key: string, fields: Record<string, unknown>) =>
      itemOf({
        deliveryId: 'x',
        destination: 'v7',
        object: { bucket: 'b', key, etag: 'e', size: 1 },
        fields: fields as never,
        attempt: 1,
        ambiguousSends: 0,
      });
    const video = job('line-1/v/SN1.MP4', { name: 'SN1 final', path: 'line-1/v', tags: ['qa'] });
    assert.deepEqual(uploadItem(video, s), {
      name: 'SN1 final',
      path: '/line-1/v',
      slots: [{ file_name: 'SN1.MP4', slot_name: '0', tags: ['qa'], fps: 2, as_frames: true }],
    });
    assert.deepEqual(existingItem(video, s), {
      name: 'SN1 final',
      path: '/line-1/v',
      storage_key: 'line-1/v/SN1.MP4',
      type: 'video',
      tags: ['qa'],
      fps: 2,
      as_frames: true,
    });
    assert.deepEqual(uploadItem(job('a/SN2.jpg', { name: 'SN2.jpg' }), s), {
      name: 'SN2.jpg',
      path: '/',
      slots: [{ file_name: 'SN2.jpg', slot_name: '0' }],
    });
  });
});

describe('V7 pre-flight: answered without reading the object', () => {
  const input = (
    options: Record<string, unknown>,
    key: string,
    size: number,
    bucket = 'ingest',
  ): PreflightInput => ({
    object: { bucket, key, etag: 'e', size },
    head: Buffer.alloc(0),
    reader: {
      size,
      read: () => {
        throw new Error('the V7 pre-flight must not read the object');
      },
    },
    fields: { name: 'n' },
    destination: { name: 'v7', vendor: 'v7-darwin', baseUrl: 'http://x', options: options as never },
  });
  const upload = { team_slug: 't', dataset_slug: 'd' };
  const external = { ...upload, external_storage: { storage_slug: 's', bucket: 'ingest' } };

  it('reads no head: headBytes 0', () => {
    assert.equal(v7Darwin.preflight?.headBytes, 0);
  });
  it('standard upload: an empty file, or one over S3’s 5 GiB single PUT', () => {
    assert.equal(preflight(input(upload, 'a.jpg', 10)), undefined);
    assert.equal(preflight(input(upload, 'a.jpg', 0))?.code, 'EMPTY_FILE');
    assert.equal(
      preflight(input(upload, 'a.jpg', V7_ASSUMPTIONS.maxSinglePutBytes + 1))?.code,
      'FILE_TOO_LARGE',
    );
  });
  it('External Storage: only the storage’s bucket, only types V7 registers', () => {
    assert.equal(preflight(input(external, 'a.jpg', 10)), undefined);
    assert.equal(preflight(input(external, 'a.mp4', 0)), undefined, 'nothing is sent: size does not matter');
    assert.equal(preflight(input(external, 'a.jpg', 10, 'other'))?.code, 'NOT_IN_EXTERNAL_STORAGE');
    assert.equal(preflight(input(external, 'a.csv', 10))?.code, 'UNSUPPORTED_EXTENSION');
  });
});

describe('V7 answers → outcomes (pure)', () => {
  const answer = (status: number, body: unknown, headers: Record<string, string> = {}) =>
    ({ kind: 'answer', status, headers, text: JSON.stringify(body) }) as const;
  const notFound = (what: string) =>
    answer(404, { errors: { code: 'NOT_FOUND', message: `${what} not found` } });

  it('404: a hold on the register routes and for a team; the item’s own problem for an upload', () => {
    assert.deepEqual(
      ['team', 'dataset', 'storage'].map((w) => failure(notFound(w), 'register', 0)),
      ['TEAM', 'DATASET', 'STORAGE'].map((w) => ({
        kind: 'hold',
        error: {
          code: `${w}_NOT_FOUND`,
          message: `register: check team_slug, dataset_slug and storage_slug of this destination: V7 answered 404 NOT_FOUND: ${w.toLowerCase()} not found`,
          httpStatus: 404,
          vendorCode: 'NOT_FOUND',
        },
      })),
    );
    assert.equal(failure(notFound('team'), 'sign', 0).kind, 'hold');
    const upload = failure(notFound('upload'), 'confirm', 0);
    assert.equal(upload.kind === 'rejected' && upload.error.code, 'UPLOAD_NOT_FOUND');
  });

  it('3xx holds (ENDPOINT_MOVED, naming Location) on every route; 408 retries, ambiguous unless a sign', () => {
    for (const route of ['register', 'sign', 'confirm'] as const) {
      const o = failure(answer(301, '', { location: 'https://eu.darwin.v7labs.com/api' }), route, 0);
      assert.equal(o.kind === 'hold' && o.error.code, 'ENDPOINT_MOVED', route);
      assert.match(o.kind === 'hold' ? o.error.message : '', /https:\/\/eu\.darwin\.v7labs\.com\/api/);
    }
    const confirm = failure(answer(408, ''), 'confirm', 0);
    assert.equal(confirm.kind === 'retry' && confirm.ambiguous, true);
    assert.equal(confirm.kind === 'retry' && confirm.error.code, 'REQUEST_TIMEOUT');
    const sign = failure(answer(408, ''), 'sign', 0);
    assert.equal(sign.kind === 'retry' && sign.ambiguous, undefined);
  });

  it('429 storage holds; 429 and 5xx retry; 413, 422 and other 4xx reject', () => {
    const storage = failure(
      answer(429, { errors: { code: 'INSUFFICIENT_REMAINING_STORAGE' } }),
      'confirm',
      0,
    );
    assert.equal(storage.kind === 'hold' && storage.error.code, 'STORAGE_EXHAUSTED');
    const rate = failure(
      answer(429, { errors: { code: 'RATE_LIMIT_EXCEEDED' } }, { 'retry-after': '7' }),
      'sign',
      0,
    );
    assert.equal(rate.kind === 'retry' && rate.retryAfterMs, 7000);
    assert.equal(failure(answer(503, {}), 'register', 0).kind, 'retry');
    assert.equal(failure(answer(413, {}), 'register', 0).kind, 'rejected');
    const invalid = failure(
      answer(422, { errors: { code: 'INVALID_REQUEST', dataset_slug: ["can't be blank"] } }),
      'confirm',
      0,
    );
    assert.deepEqual(invalid, {
      kind: 'rejected',
      error: {
        code: 'INVALID_REQUEST',
        message: "confirm upload refused: V7 answered 422 INVALID_REQUEST: dataset_slug: can't be blank",
        httpStatus: 422,
        vendorCode: 'INVALID_REQUEST',
      },
    });
    assert.equal(failure(answer(400, {}), 'sign', 0).kind, 'rejected');
    const none = failure(
      { kind: 'no-answer', error: new Error('socket hang up'), sentInFull: true },
      'register',
      0,
    );
    assert.equal(none.kind === 'retry' && none.ambiguous, true);
  });

  it('blocked reasons: ALREADY_EXISTS present, the team’s item limit holds, V7’s own error retries, others reject', () => {
    const e = {
      item: itemOf({
        deliveryId: 'x',
        destination: 'v7',
        object: { bucket: 'b', key: 'a/n.jpg', etag: 'e', size: 1 },
        fields: { name: 'n.jpg' },
        attempt: 1,
        ambiguousSends: 0,
      }),
      mayExist: false,
    };
    const kind = (reason: string, mayExist = false) =>
      blockedOutcome({ id: 'i', slots: [{ reason }] }, 'upload', { ...e, mayExist }).kind;
    assert.equal(kind('ALREADY_EXISTS'), 'present');
    assert.equal(kind('ALREADY_EXISTS', true), 'rejected');
    assert.equal(kind('ITEM_COUNT_LIMIT_EXCEEDED'), 'hold');
    assert.equal(kind('UNEXPECTED_ERROR'), 'retry');
    for (const r of ['UNKNOWN_TAGS', 'UNKNOWN_TAG', 'MISSING_TEXT_FOR_TAG', 'FILE_UPLOAD_FAILED'])
      assert.equal(kind(r), 'rejected');
    // External Storage: an item that exists is present even after a lost answer (nothing more to send).
    assert.equal(
      blockedOutcome({ id: 'i', slots: [{ reason: 'ALREADY_EXISTS' }] }, 'external', { ...e, mayExist: true })
        .kind,
      'present',
    );
  });
});

describe('V7 assumptions the plug-in is built on', () => {
  it('batches up to 500 deliveries per call, with infra that gathers them', () => {
    assert.equal(v7Darwin.maxBatch, V7_ASSUMPTIONS.maxItemsPerRegister);
    assert.equal(V7_ASSUMPTIONS.maxItemsPerRegister, 500);
    assert.ok((v7Darwin.infra?.batchSize ?? 0) > 10 && (v7Darwin.infra?.batchingWindowSeconds ?? 0) > 0);
  });
  it('no poller (no item status in the contract), no default rate limit (V7 publishes none)', () => {
    assert.equal(V7_ASSUMPTIONS.pollsAfterConfirm, false);
    assert.equal(v7Darwin.poll, undefined);
    assert.equal(V7_ASSUMPTIONS.publishesRateLimit, false);
    assert.equal(v7Darwin.rateLimit, undefined);
  });
  it("the error codes of confirm before the bytes and of sign after confirm are the simulator's, named here", () => {
    assert.equal(V7_ASSUMPTIONS.uploadNotReceivedCode, 'UPLOAD_NOT_RECEIVED');
    assert.equal(V7_ASSUMPTIONS.alreadyConfirmedCode, 'UPLOAD_ALREADY_CONFIRMED');
  });
  it("422 keys: only dataset_slug and storage_slug name the destination; NameTaken is darwin-py's", () => {
    const dest = V7_ASSUMPTIONS.destinationErrorKey;
    assert.ok(dest.test('dataset_slug') && dest.test('storage_slug'));
    assert.ok(!dest.test('name') && !dest.test('items') && !dest.test('items[0].name'));
    assert.equal(V7_ASSUMPTIONS.nameTaken.key, 'name');
    assert.match('has already been taken', V7_ASSUMPTIONS.nameTaken.message);
  });
  it('read-only External Storage is not offered', () => {
    assert.equal(V7_ASSUMPTIONS.readonlyStorageSupported, false);
    const props = (v7Darwin.optionsSchema.properties as Record<string, { properties?: object }>)
      .external_storage;
    assert.deepEqual(Object.keys(props?.properties ?? {}).sort(), ['bucket', 'storage_slug']);
  });
});
