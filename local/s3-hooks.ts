/**
 * What fauxqs cannot do for the relay, added from outside through Fastify hooks on the app `buildApp()` returns
 * (public Fastify API; no fauxqs internals):
 *
 * 1. Object-created events. fauxqs accepts PutBucketNotificationConfiguration but delivers nothing, and its
 *    MessageSpy is a bounded buffer with no subscription. An `onSend` hook sees every successful PutObject,
 *    CopyObject and CompleteMultipartUpload as it is answered, with the ETag S3 returned, and emits one
 *    `objectCreated` per new object version, in order. Sizes come from the request (decoded aws-chunked length,
 *    the sum of the parts' sizes, the copy source's size); when unknown, `size` is undefined and the notifier
 *    asks HeadObject. Not seen: PostObject (browser form upload; its key is inside the form).
 *
 * 2. Object requests. An `onResponse` hook emits `objectRequest` for every request on an object (GET, HEAD, PUT,
 *    DELETE…): method, bucket, key, Range, versionId and status. Tests count what the relay read with it (an
 *    External Storage destination must read nothing), which an S3 client-side count would not show.
 *
 * 3. Versioning. fauxqs keeps one version per key and would answer PutBucketVersioning as CreateBucket. This shim
 *    answers Put/GetBucketVersioning itself; on a versioning-enabled bucket every new object gets a versionId
 *    (S3-like, 32 chars), returned as `x-amz-version-id` on the write, GetObject and HeadObject and carried in the
 *    event. Only the latest version's bytes exist: GET/HEAD with an older versionId → 404 NoSuchVersion
 *    (honest, instead of fauxqs silently serving the latest). ListObjectVersions is not available.
 *
 * The shim's state (each bucket's versioning status, each object's current versionId and size) is in memory, or,
 * with a data dir, also written through to a small SQLite file (`openS3ShimState`) so that a restarted stack
 * still serves `GET ?versionId=` for the objects fauxqs kept. Sizes of multipart parts are not kept: an upload
 * completed after a restart gets its size from HeadObject (the notifier asks).
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { DatabaseSync } from 'node:sqlite';
import type { buildApp } from 'fauxqs';
import { loadSqlite } from './quiet-import.ts';

type FauxqsApp = ReturnType<typeof buildApp>;

export type ObjectCreatedEventName =
  | 'ObjectCreated:Put'
  | 'ObjectCreated:Copy'
  | 'ObjectCreated:CompleteMultipartUpload';

export interface ObjectCreated {
  eventName: ObjectCreatedEventName;
  bucket: string;
  /** The object key, NOT encoded. */
  key: string;
  /** ETag without quotes (as events carry it). */
  eTag: string;
  /** Bytes; undefined when the hook could not tell (then ask HeadObject). */
  size: number | undefined;
  versionId?: string;
  /** When S3 finished processing the request. */
  eventTime: Date;
  sourceIPAddress: string;
  /** The access key id of the request's SigV4 credential, when there was one. */
  accessKeyId?: string;
  requestId: string;
  hostId: string;
}

/** One request on an object, as S3 answered it. */
export interface ObjectRequest {
  method: string;
  bucket: string;
  /** The object key, NOT encoded. */
  key: string;
  /** The Range header, when there was one. */
  range?: string;
  versionId?: string;
  status: number;
}

type S3Events = { objectCreated: [ObjectCreated]; objectRequest: [ObjectRequest] };

export interface S3Watch extends EventEmitter<S3Events> {
  /** Buckets with versioning Enabled (shim). */
  readonly versionedBuckets: ReadonlySet<string>;
  /** The current versionId of an object on a versioned bucket. */
  currentVersion(bucket: string, key: string): string | undefined;
}

/** S3-looking version id: 32 characters of [A-Za-z0-9._]. */
export function newVersionId(): string {
  return randomBytes(24).toString('base64').replace(/\+/g, '.').replace(/\//g, '_').slice(0, 32);
}

const header = (v: string | string[] | number | undefined): string | undefined =>
  v === undefined ? undefined : Array.isArray(v) ? v[0] : String(v);

function decodedLength(
  headers: Record<string, string | string[] | undefined>,
  body: unknown,
): number | undefined {
  const decoded = header(headers['x-amz-decoded-content-length']);
  if (decoded !== undefined && /^\d+$/.test(decoded)) return Number(decoded);
  const encoding = header(headers['content-encoding']) ?? '';
  if (encoding.includes('aws-chunked')) return undefined;
  if (Buffer.isBuffer(body)) return body.length;
  if (typeof body === 'string') return Buffer.byteLength(body);
  return undefined;
}

function unquoteEtag(raw: string): string {
  return raw.replaceAll('&quot;', '"').replaceAll('&#34;', '"').replace(/^"|"$/g, '');
}

function etagFromXml(payload: unknown): string | undefined {
  const text =
    typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString('utf8') : '';
  const m = /<ETag>([\s\S]*?)<\/ETag>/.exec(text);
  return m ? unquoteEtag(m[1]!) : undefined;
}

function accessKeyOf(headers: Record<string, string | string[] | undefined>): string | undefined {
  const auth = header(headers.authorization) ?? '';
  return /Credential=([^/,\s]+)\//.exec(auth)?.[1];
}

const XML_NS = 'http://s3.amazonaws.com/doc/2006-03-01/';

type VersioningStatus = 'Enabled' | 'Suspended';

/** The shim's state on disk: written through on every change, read once when the hooks are attached. */
export interface S3ShimState {
  load(): {
    versioning: Array<{ bucket: string; status: VersioningStatus }>;
    objects: Array<{ bucket: string; key: string; versionId?: string; size?: number }>;
  };
  saveVersioning(bucket: string, status: VersioningStatus): void;
  /** The object's current version id and size (either may be unknown). */
  saveObject(bucket: string, key: string, versionId: string | undefined, size: number | undefined): void;
  deleteObject(bucket: string, key: string): void;
  close(): void;
}

/** The shim's state in an SQLite file (a data dir's `s3-shim.sqlite`). */
export async function openS3ShimState(path: string): Promise<S3ShimState> {
  const { DatabaseSync } = await loadSqlite();
  const db: DatabaseSync = new DatabaseSync(path);
  db.exec('PRAGMA journal_mode = WAL');
  db.exec('PRAGMA synchronous = NORMAL');
  db.exec(`CREATE TABLE IF NOT EXISTS bucket_versioning (bucket TEXT PRIMARY KEY, status TEXT NOT NULL);
           CREATE TABLE IF NOT EXISTS objects (bucket TEXT NOT NULL, key TEXT NOT NULL, version_id TEXT,
                                               size INTEGER, PRIMARY KEY (bucket, key));`);
  const putVersioning = db.prepare(
    'INSERT INTO bucket_versioning (bucket, status) VALUES (?, ?) ON CONFLICT (bucket) DO UPDATE SET status = excluded.status',
  );
  const putObject = db.prepare(
    'INSERT INTO objects (bucket, key, version_id, size) VALUES (?, ?, ?, ?) ON CONFLICT (bucket, key) DO UPDATE SET version_id = excluded.version_id, size = excluded.size',
  );
  const delObject = db.prepare('DELETE FROM objects WHERE bucket = ? AND key = ?');
  return {
    load() {
      const versioning = db
        .prepare('SELECT bucket, status FROM bucket_versioning')
        .all()
        .map((r) => ({ bucket: String(r.bucket), status: r.status as VersioningStatus }));
      const objects = db
        .prepare('SELECT bucket, key, version_id, size FROM objects')
        .all()
        .map((r) => ({
          bucket: String(r.bucket),
          key: String(r.key),
          ...(r.version_id !== null ? { versionId: String(r.version_id) } : {}),
          ...(r.size !== null ? { size: Number(r.size) } : {}),
        }));
      return { versioning, objects };
    },
    saveVersioning: (bucket, status) => void putVersioning.run(bucket, status),
    saveObject: (bucket, key, versionId, size) =>
      void putObject.run(bucket, key, versionId ?? null, size ?? null),
    deleteObject: (bucket, key) => void delObject.run(bucket, key),
    close: () => db.close(),
  };
}

export interface S3HooksOptions {
  /** Keep the shim's state here too (a data dir); default: in memory only. */
  state?: S3ShimState;
}

/** Attach the hooks; call before `app.listen()`. */
export function attachS3Hooks(app: FauxqsApp, opts: S3HooksOptions = {}): S3Watch {
  const versioning = new Map<string, VersioningStatus>();
  const versioned = new Set<string>();
  const current = new Map<string, string>(); // bucket \0 key → versionId
  const sizes = new Map<string, number>(); // bucket \0 key → size of the latest version we saw
  const { state } = opts;
  if (state) {
    const saved = state.load();
    for (const v of saved.versioning) {
      versioning.set(v.bucket, v.status);
      if (v.status === 'Enabled') versioned.add(v.bucket);
    }
    for (const o of saved.objects) {
      if (o.versionId !== undefined) current.set(`${o.bucket}\0${o.key}`, o.versionId);
      if (o.size !== undefined) sizes.set(`${o.bucket}\0${o.key}`, o.size);
    }
  }
  const parts = new Map<string, Map<number, number>>(); // uploadId → part number → size
  const watch = new EventEmitter<S3Events>() as S3Watch;
  Object.defineProperty(watch, 'versionedBuckets', { value: versioned });
  watch.currentVersion = (bucket, key) => current.get(`${bucket}\0${key}`);

  app.addHook('preHandler', async (request, reply) => {
    const params = (request.params ?? {}) as Record<string, string | undefined>;
    const query = (request.query ?? {}) as Record<string, string | undefined>;
    const bucket = params.bucket;
    const key = params['*'] ?? '';
    if (!bucket) return;
    if (!key && 'versioning' in query) {
      if (request.method === 'PUT') {
        const body = Buffer.isBuffer(request.body)
          ? request.body.toString('utf8')
          : String(request.body ?? '');
        const status = /<Status>\s*(Enabled|Suspended)\s*<\/Status>/.exec(body)?.[1] as
          | 'Enabled'
          | 'Suspended'
          | undefined;
        if (!status) {
          reply
            .code(400)
            .header('content-type', 'application/xml')
            .send(
              `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>MalformedXML</Code><Message>The XML you provided was not well-formed or did not validate against our published schema</Message></Error>`,
            );
          return reply;
        }
        versioning.set(bucket, status);
        state?.saveVersioning(bucket, status);
        if (status === 'Enabled') versioned.add(bucket);
        else versioned.delete(bucket);
        reply.code(200).send();
        return reply;
      }
      if (request.method === 'GET') {
        const status = versioning.get(bucket);
        reply
          .code(200)
          .header('content-type', 'application/xml')
          .send(
            `<?xml version="1.0" encoding="UTF-8"?>\n<VersioningConfiguration xmlns="${XML_NS}">${status ? `<Status>${status}</Status>` : ''}</VersioningConfiguration>`,
          );
        return reply;
      }
    }
    const wanted = query.versionId;
    if (
      key &&
      wanted !== undefined &&
      (request.method === 'GET' || request.method === 'HEAD') &&
      versioned.has(bucket)
    ) {
      if (current.get(`${bucket}\0${key}`) !== wanted) {
        reply.code(404).header('x-amz-version-id', wanted);
        if (request.method === 'HEAD') reply.send();
        else
          reply
            .header('content-type', 'application/xml')
            .send(
              `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchVersion</Code><Message>The specified version does not exist.</Message><Key>${escapeXml(key)}</Key><VersionId>${escapeXml(wanted)}</VersionId></Error>`,
            );
        return reply;
      }
    }
  });

  app.addHook('onResponse', async (request, reply) => {
    const params = (request.params ?? {}) as Record<string, string | undefined>;
    const bucket = params.bucket;
    const key = params['*'] ?? '';
    if (!bucket || !key) return;
    const query = (request.query ?? {}) as Record<string, string | undefined>;
    const range = header((request.headers as Record<string, string | string[] | undefined>).range);
    watch.emit('objectRequest', {
      method: request.method,
      bucket,
      key,
      ...(range !== undefined ? { range } : {}),
      ...(query.versionId !== undefined ? { versionId: query.versionId } : {}),
      status: reply.statusCode,
    });
  });

  app.addHook('onSend', async (request, reply, payload) => {
    const params = (request.params ?? {}) as Record<string, string | undefined>;
    const query = (request.query ?? {}) as Record<string, string | undefined>;
    const bucket = params.bucket;
    const key = params['*'] ?? '';
    if (!bucket || !key) return payload;
    const headers = request.headers as Record<string, string | string[] | undefined>;
    const id = `${bucket}\0${key}`;

    if (
      (request.method === 'GET' || request.method === 'HEAD') &&
      reply.statusCode < 300 &&
      versioned.has(bucket)
    ) {
      const v = current.get(id);
      if (v && !reply.hasHeader('x-amz-version-id')) reply.header('x-amz-version-id', v);
      return payload;
    }
    if (request.method === 'DELETE') {
      if (query.uploadId) parts.delete(query.uploadId);
      else if (reply.statusCode < 300) {
        current.delete(id);
        sizes.delete(id);
        state?.deleteObject(bucket, key);
      }
      return payload;
    }
    if (reply.statusCode !== 200) return payload;

    let eventName: ObjectCreatedEventName | undefined;
    let eTag: string | undefined;
    let size: number | undefined;
    if (request.method === 'PUT') {
      if ('renameObject' in query) return payload;
      if (query.uploadId && query.partNumber) {
        const n = decodedLength(headers, request.body);
        const m = parts.get(query.uploadId) ?? new Map<number, number>();
        parts.set(query.uploadId, m);
        if (n !== undefined) m.set(Number(query.partNumber), n);
        return payload;
      }
      const copySource = header(headers['x-amz-copy-source']);
      if (copySource) {
        eventName = 'ObjectCreated:Copy';
        eTag = etagFromXml(payload);
        const raw = decodeURIComponent(copySource.split('?')[0]!).replace(/^\//, '');
        const slash = raw.indexOf('/');
        size = slash > 0 ? sizes.get(`${raw.slice(0, slash)}\0${raw.slice(slash + 1)}`) : undefined;
      } else {
        eventName = 'ObjectCreated:Put';
        eTag = unquoteEtag(header(reply.getHeader('etag') as string | undefined) ?? '');
        size = decodedLength(headers, request.body);
      }
    } else if (request.method === 'POST' && query.uploadId) {
      eventName = 'ObjectCreated:CompleteMultipartUpload';
      eTag = etagFromXml(payload);
      const partSizes = parts.get(query.uploadId);
      parts.delete(query.uploadId);
      const body = Buffer.isBuffer(request.body) ? request.body.toString('utf8') : String(request.body ?? '');
      const numbers = [...body.matchAll(/<PartNumber>(\d+)<\/PartNumber>/g)].map((m) => Number(m[1]));
      if (partSizes && numbers.length > 0 && numbers.every((n) => partSizes.has(n)))
        size = numbers.reduce((sum, n) => sum + partSizes.get(n)!, 0);
    } else {
      return payload;
    }
    if (!eTag) return payload;

    let versionId: string | undefined;
    const mode = versioning.get(bucket);
    if (mode === 'Enabled') {
      versionId = newVersionId();
      current.set(id, versionId);
      reply.header('x-amz-version-id', versionId);
    } else if (mode === 'Suspended') {
      versionId = 'null';
      current.set(id, versionId);
    }
    if (size !== undefined) sizes.set(id, size);
    else sizes.delete(id);
    state?.saveObject(bucket, key, current.get(id), size);
    watch.emit('objectCreated', {
      eventName,
      bucket,
      key,
      eTag,
      size,
      ...(versionId !== undefined ? { versionId } : {}),
      eventTime: new Date(),
      sourceIPAddress: request.ip,
      accessKeyId: accessKeyOf(headers),
      requestId: header(reply.getHeader('x-amz-request-id') as string | undefined) ?? request.id,
      hostId: header(reply.getHeader('x-amz-id-2') as string | undefined) ?? 'local',
    });
    return payload;
  });

  return watch;
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
