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

function quote(s: string): string {
  return s
    .replace(/\\/g, '\\\\')
    .replace(/"/g, '\\"')
    .replace(/[\r\n]/g, ' ');
}

function header(boundary: string, part: Part): Buffer {
  let h = `--${boundary}${CRLF}Content-Disposition: form-data; name="${quote(part.name)}"`;
  if ('filename' in part) {
    // RFC 7578 §4.2: percent-encoding is not required; keep the UTF-8 name quoted.
    h += `; filename="${quote(part.filename)}"${CRLF}Content-Type: ${part.contentType}`;
  } else if (part.contentType) {
    h += `${CRLF}Content-Type: ${part.contentType}`;
  }
  return Buffer.from(`${h}${CRLF}${CRLF}`, 'utf8');
}

export function multipartBody(
  parts: Part[],
  boundary = `----factory-relay-${randomBytes(12).toString('hex')}`,
): MultipartBody {
  const closing = Buffer.from(`--${boundary}--${CRLF}`, 'utf8');
  const crlf = Buffer.from(CRLF, 'utf8');
  let length = closing.length;
  for (const part of parts) {
    length += header(boundary, part).length + crlf.length;
    length += 'filename' in part ? part.size : Buffer.byteLength(part.value, 'utf8');
  }
  async function* generate(): AsyncGenerator<Buffer> {
    for (const part of parts) {
      yield header(boundary, part);
      if ('filename' in part) {
        const src = await part.open();
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
  }
  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    contentLength: length,
    body: Readable.from(generate(), { objectMode: false }),
  };
}
