/**
 * HTTP helpers shared by the V7 Darwin simulator's tests: requests shaped like darwin-py v3.5.3's
 * (`client.py::_get_headers`, `_post_raw`, `upload_manager.py`) and a per-test simulator.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { TestContext } from 'node:test';
import { request } from 'undici';
import { type V7DarwinOptions, V7DarwinSimulator } from './index.ts';

/** The API keys of the two teams of `baseOptions`: acme and globex. */
export const KEY = 'sim-api-key-1';
export const OTHER_KEY = 'sim-api-key-other';
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

export type Json = Record<string, unknown>;

export interface SlotOut {
  type: string;
  file_name: string;
  slot_name: string;
  upload_id?: string;
  storage_key?: string;
  as_frames: boolean;
  extract_views: boolean;
  reason?: string;
}
export interface ItemOut {
  id: string;
  name: string;
  path: string;
  slots: SlotOut[];
}
export interface RegisterOut {
  items: ItemOut[];
  blocked_items: ItemOut[];
}
export interface ErrorOut {
  errors: Record<string, unknown> & { code?: string };
}
export interface SignOut {
  upload_url: string;
}
export interface V1SignOut {
  postEndpoint: string;
  signature: Record<string, string>;
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: <T = Json>() => T;
}

/** Element `i` of a list, failing the test when it is absent. */
export function nth<T>(list: readonly T[] | undefined, i = 0): T {
  const v = list?.[i];
  assert.ok(v !== undefined, `no element ${i}`);
  return v;
}

/** The upload_id of slot `s` of item `i` of a register answer (fails the test when absent). */
export function uploadIdOf(reply: Reply, i = 0, s = 0): string {
  const id = reply.json<RegisterOut>().items[i]?.slots[s]?.upload_id;
  assert.ok(id, `no upload_id at items[${i}].slots[${s}]`);
  return id;
}

export async function signedUrl(base: string, team: string, uploadId: string): Promise<string> {
  const sign = await call(base, 'GET', `/api/v2/teams/${team}/items/uploads/${uploadId}/sign`);
  assert.equal(sign.status, 200);
  return sign.json<SignOut>().upload_url;
}

export function darwinHeaders(key: string | undefined): Record<string, string> {
  const h: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'darwin-py/3.5.3' };
  if (key !== undefined) h.authorization = `ApiKey ${key}`;
  return h;
}

export async function call(
  base: string,
  method: 'GET' | 'POST' | 'PUT',
  path: string,
  opts: { key?: string | null; body?: unknown; headers?: Record<string, string>; raw?: Buffer } = {},
): Promise<Reply> {
  const headers = {
    ...darwinHeaders(opts.key === null ? undefined : (opts.key ?? KEY)),
    ...(opts.headers ?? {}),
  };
  const body = opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body));
  const res = await request(`${base}${path}`, { method, headers, body });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: <T>() => JSON.parse(text) as T };
}

/** LocalFile.serialize_darwin_json_v2 payload, chunked like UploadHandlerV2._request_upload. */
export function localFile(name: string, path = '/', extra: Record<string, unknown> = {}): Json {
  return { slots: [{ file_name: name, slot_name: '0', ...extra }], name, path };
}

export function registerBody(dataset: string, items: Json[]): Json {
  return { items, options: { handle_as_slices: false }, dataset_slug: dataset };
}

export const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** darwin-py `_do_upload_file`: sign → PUT (retry only on 503) → confirm. */
export async function uploadSlot(
  base: string,
  team: string,
  uploadId: string,
  bytes: Buffer,
): Promise<Reply> {
  const sign = await call(base, 'GET', `/api/v2/teams/${team}/items/uploads/${uploadId}/sign`);
  assert.equal(sign.status, 200);
  const put = await request(sign.json<SignOut>().upload_url, { method: 'PUT', body: bytes });
  assert.equal(put.statusCode, 200);
  await put.body.dump();
  return call(base, 'POST', `/api/v2/teams/${team}/items/uploads/${uploadId}/confirm`, { body: {} });
}

export function baseOptions(now: () => number, extra: Partial<V7DarwinOptions> = {}): V7DarwinOptions {
  return {
    seed: 7,
    clock: now,
    apiKeys: { [KEY]: { team: 'acme' }, [OTHER_KEY]: { team: 'globex' } },
    teams: {
      acme: { datasets: ['line-1', 'line-2'], storages: ['acme-bucket'], tags: ['defect', 'ok'] },
      globex: { datasets: ['theirs'] },
    },
    signedUrlTtlMs: 60_000,
    ...extra,
  };
}

/** Starts a simulator for one test; the test stops it. */
export async function started(
  t: TestContext,
  options: V7DarwinOptions,
): Promise<[V7DarwinSimulator, string]> {
  const sim = new V7DarwinSimulator(options);
  t.after(() => sim.stop());
  const base = await sim.start();
  return [sim, base];
}
