/**
 * `.labels` files sent as extra `data` parts (contract §1.2) and the legacy `x-bounding-boxes` header (§1.1).
 * Request-level problems throw `LabelFileError` (→ 400); per-sample problems throw `LabelEntryError`
 * (→ a per-file failure of that sample). See `assumptions.ts` (LABEL_FILE_ERROR_STATUS).
 */
import { STRUCTURED_LABELS_COVER_KNOWN_LENGTH } from './assumptions.ts';

export class LabelFileError extends Error {}
export class LabelEntryError extends Error {}

export interface BoundingBox {
  label: string;
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface StructuredLabel {
  startIndex: number;
  endIndex: number;
  label: string;
  labelMap?: unknown;
}

export interface AttachmentRef {
  filename: string;
}

export type LabelFileType = 'bounding-box-labels' | 'structured-labels' | 'label-map-labels' | 'attachments';

/** The raw entries of every `.labels` file in a request, keyed by the sample file name they describe. */
export interface LabelFiles {
  boundingBoxes: Map<string, unknown>;
  structuredLabels: Map<string, unknown>;
  labelMaps: Map<string, unknown>;
  attachments: Map<string, unknown>;
  /** Which label files were seen, in order (for the inspection log). */
  seen: Array<{ fileName: string; type: LabelFileType; entries: number }>;
}

export function emptyLabelFiles(): LabelFiles {
  return {
    boundingBoxes: new Map(),
    structuredLabels: new Map(),
    labelMaps: new Map(),
    attachments: new Map(),
    seen: [],
  };
}

export function isLabelsFileName(name: string): boolean {
  return name.toLowerCase().endsWith('.labels');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The key in each label file type that holds the per-file entries (§1.2). */
const ENTRIES_KEY: Record<LabelFileType, 'boundingBoxes' | 'structuredLabels' | 'labels' | 'attachments'> = {
  'bounding-box-labels': 'boundingBoxes',
  'structured-labels': 'structuredLabels',
  'label-map-labels': 'labels',
  attachments: 'attachments',
};

/** Parses one `.labels` part and merges its entries into `into`. Throws `LabelFileError` (request-level). */
export function parseLabelFile(fileName: string, bytes: Buffer | undefined, into: LabelFiles): void {
  if (bytes === undefined) throw new LabelFileError(`Label file "${fileName}" is too large to parse`);
  let data: unknown;
  try {
    data = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new LabelFileError(`Label file "${fileName}" is not valid JSON: ${(err as Error).message}`);
  }
  if (!isObject(data)) throw new LabelFileError(`Label file "${fileName}" must be a JSON object`);
  if (data.version !== 1) throw new LabelFileError(`Label file "${fileName}": invalid version`);
  const type = data.type;
  if (typeof type !== 'string' || !(type in ENTRIES_KEY)) {
    throw new LabelFileError(`Label file "${fileName}": invalid type ${JSON.stringify(type)}`);
  }
  const t = type as LabelFileType;
  const key = ENTRIES_KEY[t];
  const entries = data[key];
  if (!isObject(entries)) throw new LabelFileError(`Label file "${fileName}": ${key} is not an object`);
  const target =
    t === 'bounding-box-labels'
      ? into.boundingBoxes
      : t === 'structured-labels'
        ? into.structuredLabels
        : t === 'label-map-labels'
          ? into.labelMaps
          : into.attachments;
  const names = Object.keys(entries);
  for (const name of names) target.set(name, entries[name]);
  into.seen.push({ fileName, type: t, entries: names.length });
}

/** Every sample file name a label file refers to, with the label file type that refers to it. */
export function referencedFileNames(files: LabelFiles): Array<{ name: string; type: LabelFileType }> {
  const out: Array<{ name: string; type: LabelFileType }> = [];
  for (const name of files.boundingBoxes.keys()) out.push({ name, type: 'bounding-box-labels' });
  for (const name of files.structuredLabels.keys()) out.push({ name, type: 'structured-labels' });
  for (const name of files.labelMaps.keys()) out.push({ name, type: 'label-map-labels' });
  for (const name of files.attachments.keys()) out.push({ name, type: 'attachments' });
  return out;
}

/** §1.2 / §1.1: an array of `{label, x, y, width, height}`; x/y top-left ≥ 0, width and height > 0. */
export function validateBoundingBoxes(raw: unknown, where: string): BoundingBox[] {
  if (!Array.isArray(raw)) throw new LabelEntryError(`Bounding boxes for ${where} must be an array`);
  return raw.map((b: unknown, i) => {
    const at = `Bounding box ${i} for ${where}`;
    if (!isObject(b)) throw new LabelEntryError(`${at} must be an object`);
    if (typeof b.label !== 'string' || b.label === '') throw new LabelEntryError(`${at}: label is required`);
    for (const k of ['x', 'y', 'width', 'height'] as const) {
      if (typeof b[k] !== 'number' || !Number.isFinite(b[k])) {
        throw new LabelEntryError(`${at}: ${k} must be a number`);
      }
    }
    const box = {
      label: b.label,
      x: b.x as number,
      y: b.y as number,
      width: b.width as number,
      height: b.height as number,
    };
    if (box.x < 0 || box.y < 0) throw new LabelEntryError(`${at}: x and y must be >= 0`);
    if (box.width <= 0) throw new LabelEntryError(`${at}: width must be > 0`);
    if (box.height <= 0) throw new LabelEntryError(`${at}: height must be > 0`);
    return box;
  });
}

/**
 * §1.2: ranges `{startIndex, endIndex (inclusive), label}` that cover every value index with no gaps. They must
 * start at 0 and be contiguous; when `count` is known the last one must end at `count - 1`.
 */
export function validateStructuredLabels(raw: unknown, where: string, count?: number): StructuredLabel[] {
  if (!Array.isArray(raw) || raw.length === 0) {
    throw new LabelEntryError(`Structured labels for ${where} must be a non-empty array`);
  }
  const out: StructuredLabel[] = raw.map((s: unknown, i) => {
    const at = `Structured label ${i} for ${where}`;
    if (!isObject(s)) throw new LabelEntryError(`${at} must be an object`);
    if (!Number.isInteger(s.startIndex) || (s.startIndex as number) < 0) {
      throw new LabelEntryError(`${at}: startIndex must be an integer >= 0`);
    }
    if (!Number.isInteger(s.endIndex) || (s.endIndex as number) < (s.startIndex as number)) {
      throw new LabelEntryError(`${at}: endIndex must be an integer >= startIndex`);
    }
    if (typeof s.label !== 'string' || s.label === '') throw new LabelEntryError(`${at}: label is required`);
    const label: StructuredLabel = {
      startIndex: s.startIndex as number,
      endIndex: s.endIndex as number,
      label: s.label,
    };
    if (s.labelMap !== undefined) label.labelMap = s.labelMap;
    return label;
  });
  const sorted = [...out].sort((a, b) => a.startIndex - b.startIndex);
  let next = 0;
  for (const s of sorted) {
    if (s.startIndex > next) {
      throw new LabelEntryError(
        `Structured labels for ${where} leave indices ${next}..${s.startIndex - 1} unlabeled`,
      );
    }
    if (s.startIndex < next)
      throw new LabelEntryError(`Structured labels for ${where} overlap at index ${s.startIndex}`);
    next = s.endIndex + 1;
  }
  if (STRUCTURED_LABELS_COVER_KNOWN_LENGTH && count !== undefined && next !== count) {
    throw new LabelEntryError(
      `Structured labels for ${where} cover indices 0..${next - 1} but the sample has ${count} values`,
    );
  }
  return out;
}

/** §1.2 `label_map.labels`: `{k: v}` or an array. */
export function validateLabelMap(raw: unknown, where: string): unknown {
  if (typeof raw !== 'object' || raw === null) {
    throw new LabelEntryError(`Label map for ${where} must be an object or an array`);
  }
  return raw;
}

/** §1.2 `attachments.labels`: `[{filename}]`. */
export function validateAttachments(raw: unknown, where: string): AttachmentRef[] {
  if (!Array.isArray(raw)) throw new LabelEntryError(`Attachments for ${where} must be an array`);
  return raw.map((a: unknown, i) => {
    if (!isObject(a) || typeof a.filename !== 'string' || a.filename === '') {
      throw new LabelEntryError(`Attachment ${i} for ${where}: filename is required`);
    }
    return { filename: a.filename };
  });
}

/** The legacy `x-bounding-boxes` header: a JSON array. Any problem is request-level (→ 400). */
export function parseBoundingBoxHeader(value: string | undefined): BoundingBox[] | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(value);
  } catch {
    throw new LabelFileError('x-bounding-boxes header is not valid JSON');
  }
  try {
    return validateBoundingBoxes(raw, 'the x-bounding-boxes header');
  } catch (err) {
    throw new LabelFileError((err as Error).message);
  }
}
