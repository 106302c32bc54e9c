/**
 * A multipart/form-data body built as a stream with a known length: file parts are piped from their source
 * (an S3 GetObject body) without being held in memory, and Content-Length is exact so no chunked encoding
 * is needed.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';

export type Part =
  | { name: string; value: string; contentType?: string }
  | {
      name: string;
      filename: string;
      contentType: string;
      size: number;
      open: () => Promise<Readable> | Readable;
    };

export interface MultipartBody {
  contentType: string;
  contentLength: number;
  body: Readable;
}

const CRLF = '\r\n';

/**
 * A form-data `name` or `filename` parameter value, escaped the way browsers and undici's FormData do it: the
 * WHATWG HTML "multipart/form-data encoding algorithm" replaces `"` with `%22`, CR with `%0D` and LF with `%0A`
 * (no backslash escaping; non-ASCII stays UTF-8). undici 8.12.4, lib/web/fetch/body.js `extractBody`:
 *
 *   const formdataEscape = (str) =>
 *     str.replace(/\n/g, '%0A').replace(/\r/g, '%0D').replace(/"/g, '%22')
 *   const normalizeLinefeeds = (value) => value.replace(/\r?\n|\r/g, '\r\n')
 *   … `; name="${formdataEscape(normalizeLinefeeds(name))}"` … `; filename="${formdataEscape(value.name)}"`
 *
 * so a field name's line breaks are first normalised to CRLF, a file name's are not.
 *
 * Two additions, so that every multipart parser reads the same single name (the exact name travels in the
 * `data` JSON anyway):
 * - the other control characters (U+0000–U+001F except TAB, and U+007F) are percent-encoded: a quoted-string
 *   may not hold them (RFC 9110 §5.6.4 qdtext) and busboy drops the whole part when one appears, so the vendor
 *   would answer "no file";
 * - a backslash becomes `%5C`. Browsers send it raw, but parsers disagree on it: RFC 9110 and busboy read `\x`
 *   as an escaped `x` (`\\` as one `\`), and busboy (node_modules/busboy/lib/utils.js `basename`, unless
 *   `preservePath`), like the old "strip the IE client path" step of many servers, drops everything up to the
 *   last `\` or `/`: a key written by a Windows tool, `line-1\cam\SN1.jpg`, would arrive as `SN1.jpg`, and
 *   `SN\.jpg` as `.jpg`.
 */
export function formDataEscape(value: string): string {
  let out = '';
  for (const c of value) {
    const code = c.charCodeAt(0);
    const escaped = (code < 0x20 && code !== 0x09) || code === 0x7f || code === 0x22 || code === 0x5c;
    out += escaped ? `%${code.toString(16).toUpperCase().padStart(2, '0')}` : c;
  }
  return out;
}

const normalizeLinefeeds = (value: string): string => value.replace(/\r?\n|\r/g, '\r\n');

function header(boundary: string, part: Part): Buffer {
  const name = formDataEscape(normalizeLinefeeds(part.name));
  let h = `--${boundary}${CRLF}Content-Disposition: form-data; name="${name}"`;
  if ('filename' in part) {
    h += `; filename="${formDataEscape(part.filename)}"${CRLF}Content-Type: ${part.contentType}`;
  } else if (part.contentType) {
    h += `${CRLF}Content-Type: ${part.contentType}`;
  }
  return Buffer.from(`${h}${CRLF}${CRLF}`, 'utf8');
}

/**
 * Opening file parts before their turn (many small files from S3: each open is a round trip). At most `parts`
 * sources are open ahead of the one being sent, and only while the bytes before them stay within `bytes`, so
 * that a source never waits long unread (S3 drops an idle connection) and memory stays flat: an open source
 * that is not read holds no more than its stream's buffer (backpressure).
 */
export interface OpenAhead {
  parts: number;
  bytes: number;
}

export function multipartBody(
  parts: Part[],
  boundary = `----factory-relay-${randomBytes(12).toString('hex')}`,
  options: { openAhead?: OpenAhead } = {},
): MultipartBody {
  const closing = Buffer.from(`--${boundary}--${CRLF}`, 'utf8');
  const crlf = Buffer.from(CRLF, 'utf8');
  let length = closing.length;
  for (const part of parts) {
    length += header(boundary, part).length + crlf.length;
    length += 'filename' in part ? part.size : Buffer.byteLength(part.value, 'utf8');
  }
  const ahead = options.openAhead ?? { parts: 0, bytes: 0 };
  async function* generate(): AsyncGenerator<Buffer> {
    const opened = new Map<number, Promise<Readable>>();
    const open = (i: number) => {
      const part = parts[i];
      if (!part || !('filename' in part) || opened.has(i)) return;
      const source = Promise.resolve().then(() => part.open());
      source.catch(() => undefined); // awaited (and its failure thrown) when its turn comes
      opened.set(i, source);
    };
    try {
      for (let i = 0; i < parts.length; i++) {
        const part = parts[i] as Part;
        yield header(boundary, part);
        if ('filename' in part) {
          open(i);
          let before = part.size;
          for (let j = i + 1, n = 0; j < parts.length && n < ahead.parts; j++) {
            const next = parts[j] as Part;
            if (!('filename' in next)) continue;
            if (before > ahead.bytes) break;
            open(j);
            before += next.size;
            n++;
          }
          const src = await (opened.get(i) as Promise<Readable>);
          opened.delete(i);
          let seen = 0;
          for await (const chunk of src as AsyncIterable<Buffer>) {
            seen += chunk.length;
            yield chunk;
          }
          if (seen !== part.size) {
            throw new Error(`part ${part.name}: source gave ${seen} bytes, ${part.size} announced`);
          }
        } else {
          yield Buffer.from(part.value, 'utf8');
        }
        yield crlf;
      }
      yield closing;
    } finally {
      // The body ended early (the request failed): close the sources opened ahead.
      for (const source of opened.values())
        source.then(
          (s) => s.destroy(),
          () => undefined,
        );
    }
  }
  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    contentLength: length,
    body: Readable.from(generate(), { objectMode: false }),
  };
}
