/**
 * The background and overlay of a bg-replace destination: where their bytes come from (an S3 object, or a file
 * shipped with the config and inlined when the config is loaded), and their imagekeys, uploaded once per
 * content: the SHA-256 of the bytes keys the imagekey in the destination's shared cache (status table), so 50
 * photos (or 50 Lambdas) share one upload; a key the vendor no longer knows is uploaded again.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { errorMessage, recorded } from '#commons/errors.ts';
import { sniff } from '#commons/media.ts';
import type { RecordedError } from '#domain/status.ts';
import type { DeliveryOutcome, InlinedOptions, JsonObject, VendorContext } from '../types.ts';
import { envelope, type ImageKind, isVendorKey, refusal, upload, VENDOR } from './api.ts';
import { INSTAVID360_ASSUMPTIONS as A } from './assumptions.ts';

/** `{s3: "s3://bucket/key", version_id?}` or `{file, data_base64?, sha256?}` (inlined by the loader). */
export type ImageSource =
  | { s3: string; version_id?: string }
  | { file: string; data_base64?: string; sha256?: string };

export type StaticKind = Extract<ImageKind, 'background' | 'overlay'>;

export const imageSourceSchema = {
  oneOf: [
    {
      type: 'object',
      required: ['s3'],
      additionalProperties: false,
      properties: {
        s3: {
          type: 'string',
          pattern: '^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+',
          description: 'An S3 object (s3://bucket/key); the forwarder reads it (grant it access).',
        },
        version_id: { type: 'string', minLength: 1, description: 'A fixed version of that object.' },
      },
    },
    {
      type: 'object',
      required: ['file'],
      additionalProperties: false,
      properties: {
        file: {
          type: 'string',
          minLength: 1,
          description: 'A file shipped with the config, relative to the config file.',
        },
        data_base64: { type: 'string', description: 'The file, inlined when the config is loaded.' },
        sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
      },
    },
  ],
} as const;

export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Problems of an image the vendor would refuse (JPEG/PNG, ≤ 2 MB), or undefined. */
export function imageProblem(bytes: Buffer): string | undefined {
  if (bytes.length === 0) return 'is empty';
  if (bytes.length > A.maxUploadBytes)
    return `is ${bytes.length} bytes, over ${VENDOR}'s 2 MB upload limit (${A.maxUploadBytes} bytes)`;
  const kind = sniff(bytes.subarray(0, 16));
  return kind === 'jpeg' || kind === 'png' ? undefined : `is not a JPEG or PNG (found ${kind})`;
}

/** The loader's hook: reads `{file}` backgrounds and overlays and inlines them (base64 + sha256). */
export function inlineConfigFiles(options: JsonObject, read: (path: string) => Buffer): InlinedOptions {
  const out: JsonObject = { ...options };
  const errors: InlinedOptions['errors'] = [];
  for (const kind of ['background', 'overlay'] as const) {
    const src = options[kind];
    if (!src || typeof src !== 'object' || Array.isArray(src) || typeof src.file !== 'string') continue;
    let bytes: Buffer;
    try {
      bytes = read(src.file);
    } catch (err) {
      errors.push({ path: [kind, 'file'], description: `cannot read ${src.file}: ${errorMessage(err)}` });
      continue;
    }
    const problem = imageProblem(bytes);
    if (problem) {
      errors.push({ path: [kind, 'file'], description: `${src.file} ${problem}` });
      continue;
    }
    out[kind] = { file: src.file, data_base64: bytes.toString('base64'), sha256: sha256(bytes) };
  }
  return { options: out, errors };
}

/** The S3 backgrounds and overlays a destination names: its forwarder must be able to read them. */
export function objectsRead(options: JsonObject): Array<{ bucket: string; key: string }> {
  return (['background', 'overlay'] as const).flatMap((kind) => {
    const src = options[kind];
    if (!src || typeof src !== 'object' || Array.isArray(src) || typeof src.s3 !== 'string') return [];
    const where = parseS3Uri(src.s3);
    return where ? [where] : [];
  });
}

export function parseS3Uri(uri: string): { bucket: string; key: string } | undefined {
  const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri);
  return m ? { bucket: m[1] as string, key: m[2] as string } : undefined;
}

type Loaded = { ok: true; bytes: Buffer; hash: string; name: string } | { ok: false; error: RecordedError };

const unavailable = (kind: StaticKind, message: string) =>
  ({
    ok: false,
    error: recorded(`${kind.toUpperCase()}_UNAVAILABLE`, `the destination's ${kind} ${message}`),
  }) as const;

async function readAtMost(stream: Readable, max: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > max) {
      stream.destroy();
      return undefined;
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Loaded images kept per process: an S3 one for IMAGE_MEMO_MS (a replaced object is seen after that). */
const memo = new Map<string, { loaded: Extract<Loaded, { ok: true }>; until: number }>();
export const IMAGE_MEMO_MS = 5 * 60_000;

/**
 * The bytes of a configured background or overlay, read once per process (every delivery of a warm Lambda
 * shares them). A problem is the destination's: the caller holds it, and it is not remembered.
 */
export async function loadImage(ctx: VendorContext, kind: StaticKind, src: ImageSource): Promise<Loaded> {
  const id = JSON.stringify(src);
  const hit = memo.get(id);
  if (hit && hit.until > ctx.now()) return hit.loaded;
  const loaded = await readImage(ctx, kind, src);
  if (loaded.ok) {
    if (memo.size > 100) memo.clear();
    memo.set(id, { loaded, until: 's3' in src ? ctx.now() + IMAGE_MEMO_MS : Number.POSITIVE_INFINITY });
  }
  return loaded;
}

async function readImage(ctx: VendorContext, kind: StaticKind, src: ImageSource): Promise<Loaded> {
  let bytes: Buffer;
  let name: string;
  if ('s3' in src) {
    const where = parseS3Uri(src.s3);
    if (!where) return unavailable(kind, `${src.s3} is not an s3://bucket/key URI`);
    name = where.key.slice(where.key.lastIndexOf('/') + 1);
    try {
      const stream = await ctx.objects.stream({
        ...where,
        etag: '',
        size: 0,
        ...(src.version_id ? { versionId: src.version_id } : {}),
      });
      const read = await readAtMost(stream, A.maxUploadBytes);
      if (!read) return unavailable(kind, `${src.s3} is over ${VENDOR}'s 2 MB upload limit`);
      bytes = read;
    } catch (err) {
      return unavailable(kind, `${src.s3} cannot be read: ${errorMessage(err)}`);
    }
  } else {
    if (src.data_base64 === undefined)
      return unavailable(
        kind,
        `file ${src.file} was not inlined: load the config from its file (npm start --config, cdk synth) so the file travels with it`,
      );
    bytes = Buffer.from(src.data_base64, 'base64');
    name = src.file.slice(src.file.lastIndexOf('/') + 1);
  }
  const problem = imageProblem(bytes);
  if (problem) return unavailable(kind, `${'s3' in src ? src.s3 : src.file} ${problem}`);
  return { ok: true, bytes, hash: sha256(bytes), name };
}

export const cacheKey = (kind: StaticKind, hash: string) => `imagekey:${kind}:${hash}`;

export type KeyOutcome =
  | { ok: true; imagekey: string; uploaded: boolean }
  | { ok: false; outcome: DeliveryOutcome };

/**
 * The imagekey of a background or overlay: from the shared cache when this content was uploaded before,
 * else uploaded now and cached. `forget`: the vendor refused the cached key, so upload again.
 */
export async function staticImageKey(
  ctx: VendorContext,
  kind: StaticKind,
  image: Extract<Loaded, { ok: true }>,
  quotaProbeMs: number,
  forget = false,
): Promise<KeyOutcome> {
  const key = cacheKey(kind, image.hash);
  if (forget) await ctx.cache.delete(key);
  else {
    const cached = await ctx.cache.get(key);
    if (isVendorKey(cached?.imagekey)) return { ok: true, imagekey: cached.imagekey, uploaded: false };
  }
  const kindOf = sniff(image.bytes.subarray(0, 16));
  const answer = await upload(ctx, kind, {
    filename: image.name,
    contentType: kindOf === 'png' ? 'image/png' : 'image/jpeg',
    size: image.bytes.length,
    open: () => Readable.from([image.bytes]),
  });
  if (answer.kind === 'no-answer')
    return {
      ok: false,
      outcome: {
        kind: 'retry',
        error: recorded('NETWORK_ERROR', `uploading the ${kind} failed: ${answer.error.message}`),
      },
    };
  const refused = refusal(answer, quotaProbeMs, ctx.now(), 'upload');
  if (refused) {
    if (refused.kind === 'hold' || refused.kind === 'retry') return { ok: false, outcome: refused };
    // The vendor refuses the configured image itself: every delivery of the destination would fail.
    return {
      ok: false,
      outcome: {
        kind: 'hold',
        error: recorded(
          `${kind.toUpperCase()}_REFUSED`,
          `${VENDOR} refused the destination's ${kind}: ${refused.error.message}`,
          {
            ...(refused.error.httpStatus ? { httpStatus: refused.error.httpStatus } : {}),
            ...(refused.error.vendorCode ? { vendorCode: refused.error.vendorCode } : {}),
          },
        ),
      },
    };
  }
  const imagekey = imagekeyOf(answer.text);
  if (!imagekey)
    return {
      ok: false,
      outcome: {
        kind: 'retry',
        error: recorded('BAD_VENDOR_RESPONSE', `${kind} upload answered without an imagekey`),
      },
    };
  await ctx.cache.put(key, { imagekey, uploadedAt: new Date(ctx.now()).toISOString() });
  return { ok: true, imagekey, uploaded: true };
}

/** `data.imagekey` of an upload's answer. */
export function imagekeyOf(text: string): string | undefined {
  const key = envelope(text)?.data?.imagekey;
  return isVendorKey(key) ? key : undefined;
}
