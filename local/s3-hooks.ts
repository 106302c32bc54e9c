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
 * 2. Versioning. fauxqs keeps one version per key and would answer PutBucketVersioning as CreateBucket. This shim
 *    answers Put/GetBucketVersioning itself; on a versioning-enabled bucket every new object gets a versionId
 *    (S3-like, 32 chars), returned as `x-amz-version-id` on the write, GetObject and HeadObject and carried in the
 *    event. Only the latest version's bytes exist: GET/HEAD with an older versionId → 404 NoSuchVersion
 *    (honest, instead of fauxqs silently serving the latest). ListObjectVersions is not available.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { buildApp } from 'fauxqs';

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

export interface S3Watch extends EventEmitter<{ objectCreated: [ObjectCreated] }> {
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

/** Attach the hooks; call before `app.listen()`. */
export function attachS3Hooks(app: FauxqsApp): S3Watch {
  const versioning = new Map<string, 'Enabled' | 'Suspended'>();
  const versioned = new Set<string>();
  const current = new Map<string, string>(); // bucket \0 key → versionId
  const sizes = new Map<string, number>(); // bucket \0 key → size of the latest version we saw
  const parts = new Map<string, Map<number, number>>(); // uploadId → part number → size
  const watch = new EventEmitter<{ objectCreated: [ObjectCreated] }>() as S3Watch;
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
