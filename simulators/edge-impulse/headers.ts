import type { IncomingHttpHeaders } from 'node:http';
import { headerIsPresent, headerIsTrue, LABEL_INFERENCE_REGEX, REPAIR_UTF8_HEADERS } from './assumptions.ts';
import { type BoundingBox, parseBoundingBoxHeader } from './labels.ts';

/** Request-level header problem (→ 400). */
export class HeaderError extends Error {}

/**
 * Node reads header bytes as latin1. A raw UTF-8 value (Python SDK) then looks like mojibake; when the bytes are
 * valid UTF-8 they are read that way (assumptions.ts REPAIR_UTF8_HEADERS).
 */
export function repairUtf8(value: string): string {
  if (!REPAIR_UTF8_HEADERS) return value;
  let high = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c > 0xff) return value;
    if (c >= 0x80) high = true;
  }
  if (!high) return value;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(value, 'latin1'));
  } catch {
    return value;
  }
}

/** §1.4: URL-encoded (CLI, Rust runner) or raw (Python SDK): decodeURIComponent, the raw value when that throws. */
export function decodeHeaderValue(value: string): string {
  const repaired = repairUtf8(value);
  try {
    return decodeURIComponent(repaired);
  } catch {
    return repaired;
  }
}

export function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

/** §1.1 `x-metadata`: a JSON object of string → string, raw (not URL-encoded). */
export function parseMetadata(value: string | undefined): Record<string, string> {
  if (value === undefined || value.trim() === '') return {};
  let raw: unknown;
  try {
    raw = JSON.parse(repairUtf8(value));
  } catch {
    throw new HeaderError('x-metadata header is not valid JSON');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new HeaderError('x-metadata header must be a JSON object');
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    if (typeof v !== 'string') throw new HeaderError(`x-metadata value for "${k}" must be a string`);
    Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** What the ingestion headers ask for, parsed once per request. */
export interface IngestionHeaders {
  /** The decoded `x-label`, when present and non-empty. */
  label?: string;
  noLabel: boolean;
  disallowDuplicates: boolean;
  addDateId: boolean;
  metadata: Record<string, string>;
  boundingBoxes?: BoundingBox[];
  uploadSource?: string;
  deviceType?: string;
  /** `/data` only: decoded `x-file-name`. */
  fileName?: string;
}

/** Parses the headers; throws `HeaderError` / `LabelFileError` for request-level problems. */
export function parseIngestionHeaders(headers: IncomingHttpHeaders): IngestionHeaders {
  const rawLabel = header(headers, 'x-label');
  const label = rawLabel === undefined ? undefined : decodeHeaderValue(rawLabel);
  const rawFileName = header(headers, 'x-file-name');
  const out: IngestionHeaders = {
    noLabel: headerIsTrue(header(headers, 'x-no-label')),
    disallowDuplicates: headerIsPresent(header(headers, 'x-disallow-duplicates')),
    addDateId: headerIsTrue(header(headers, 'x-add-date-id')),
    metadata: parseMetadata(header(headers, 'x-metadata')),
  };
  if (label !== undefined && label !== '') out.label = label;
  const boxes = parseBoundingBoxHeader(header(headers, 'x-bounding-boxes'));
  if (boxes) out.boundingBoxes = boxes;
  const source = header(headers, 'x-upload-source');
  if (source !== undefined) out.uploadSource = repairUtf8(source);
  const device = header(headers, 'x-device-type');
  if (device !== undefined) out.deviceType = repairUtf8(device);
  if (rawFileName !== undefined && rawFileName.trim() !== '') out.fileName = decodeHeaderValue(rawFileName);
  return out;
}

/** §1.1: `x-no-label` → no label; `x-label` → it; otherwise inferred from the file name. */
export function resolveLabel(h: IngestionHeaders, fileName: string): string | undefined {
  if (h.noLabel) return undefined;
  if (h.label !== undefined) return h.label;
  return inferLabel(fileName);
}

/** §1.1 label inference: `idle.01` → `idle`; see LABEL_INFERENCE_REGEX in assumptions.ts. */
export function inferLabel(fileName: string): string | undefined {
  const base = fileName.slice(fileName.lastIndexOf('/') + 1);
  const m = LABEL_INFERENCE_REGEX.exec(base);
  return m ? m[0] : undefined;
}

/** §1.1 `x-add-date-id`: `test.wav` → `test.<id>.wav` (assumptions.ts DATE_ID_*). */
export function withDateId(fileName: string, id: string): string {
  const dot = fileName.lastIndexOf('.');
  if (dot <= 0) return `${fileName}.${id}`;
  return `${fileName.slice(0, dot)}.${id}${fileName.slice(dot)}`;
}
