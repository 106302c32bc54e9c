import { createHash } from 'node:crypto';
import {
  isMultipart,
  MultipartError,
  type MultipartFile,
  parseMultipart,
  type SimRequest,
  type SimResponse,
  Simulator,
  type SimulatorOptions,
} from '../framework/index.ts';
import {
  AcquisitionError,
  type AcquisitionSensor,
  type DocumentFormat,
  type ParsedDocument,
  parseAcquisition,
  sniffDocumentFormat,
  verifySignature,
} from './acquisition.ts';
import {
  DATA_DUPLICATE_STATUS,
  DATA_ERRORS_ARE_PLAIN_TEXT,
  DATE_ID_ALPHABET,
  DATE_ID_LENGTH,
  DEFAULT_INSPECT_BYTES,
  DEFAULT_MAX_FILE_BYTES,
  DEFAULT_MAX_FILES_PER_REQUEST,
  DEFAULT_RESPONSE_CONTENT_TYPE,
  DEFAULT_SPLIT_TRAIN_RATIO,
  duplicateError,
  FILE_TOO_LARGE_STATUS,
  INFER_LABEL_FOR_STRUCTURED_SAMPLES,
  INVALID_HEADER_STATUS,
  LABEL_FILE_ERROR_STATUS,
  LABELS_FILE_BEATS_BOUNDING_BOX_HEADER,
  MISSING_ATTACHMENT_IS_PER_FILE,
  NOT_MULTIPART_STATUS,
  SAMPLE_ID_BASE_RANGE,
  STORE_INVALID_SIGNATURES,
  TOO_MANY_FILES_STATUS,
  TOP_LEVEL_SUCCESS_WHEN_ALL_FILES_FAIL,
  TXT_IS_CSV,
  UNEXPECTED_PART_STATUS,
  UNKNOWN_CATEGORY_STATUS,
} from './assumptions.ts';
import { checkSampleCsv } from './csv.ts';
import {
  HeaderError,
  header,
  type IngestionHeaders,
  parseIngestionHeaders,
  repairUtf8,
  resolveLabel,
  withDateId,
} from './headers.ts';
import {
  type AttachmentRef,
  type BoundingBox,
  emptyLabelFiles,
  isLabelsFileName,
  LabelEntryError,
  LabelFileError,
  type LabelFiles,
  parseLabelFile,
  referencedFileNames,
  type StructuredLabel,
  validateAttachments,
  validateBoundingBoxes,
  validateLabelMap,
  validateStructuredLabels,
} from './labels.ts';
import { type SampleKind, sniffSample } from './sniff.ts';

/** §1.1: the documented categories plus the newer `validation`, `post-processing` and `split`. */
export const CATEGORIES = [
  'training',
  'testing',
  'anomaly',
  'validation',
  'post-processing',
  'split',
] as const;
export type Category = (typeof CATEGORIES)[number];
/** `split` is resolved to training or testing when the sample is stored. */
export type StoredCategory = Exclude<Category, 'split'>;

/** A credential the simulator accepts and the project it opens. */
export interface EdgeImpulseApiKey {
  projectId: number;
}

/** The key a simulator accepts when `apiKeys` is not given (fake by construction). */
export const DEFAULT_API_KEY = 'ei_test_key_local';
export const DEFAULT_PROJECT_ID = 1;

export interface EdgeImpulseSimulatorOptions extends SimulatorOptions {
  /** Accepted `x-api-key` values → project. Default `{ ei_test_key_local: { projectId: 1 } }`. */
  apiKeys?: Record<string, EdgeImpulseApiKey>;
  /** Project id → HMAC key used to verify data-acquisition signatures (§1.3). None by default (not verified). */
  hmacKeys?: Record<number, string>;
  /** Most file parts per `/files` request (default 1000, §1.1). */
  maxFilesPerRequest?: number;
  /** Largest file part, or `/data` body, in bytes (default 100,000,000: the doc's 100 MB, §1.1). */
  maxFileBytes?: number;
  /** Content-Type of `/files` JSON answers (default `text/plain`, §1.5). */
  responseContentType?: string;
  /** Probability that a `split` sample goes to training (default 0.8). */
  splitTrainRatio?: number;
  /** Samples up to this size are held in memory for validation (JSON/CBOR/CSV/labels; default 8 MiB). */
  inspectBytes?: number;
}

export interface AcquisitionSummary {
  format: DocumentFormat;
  alg: 'HS256' | 'none';
  deviceType: string;
  deviceName?: string;
  intervalMs: number;
  sensors: AcquisitionSensor[];
  valueCount: number;
}

export interface StoredAttachment {
  fileName: string;
  size: number;
  sha256: string;
}

/** A sample as the simulated project holds it. */
export interface EdgeImpulseSample {
  sampleId: number;
  projectId: number;
  /** The stored name (with the date id when `x-add-date-id: 1`). */
  fileName: string;
  /** The name the client sent (multipart filename or `x-file-name`). */
  originalFileName: string;
  category: StoredCategory;
  requestedCategory: Category;
  endpoint: 'files' | 'data';
  label?: string;
  metadata: Record<string, string>;
  /** SHA-256 of the sample bytes (the duplicate check key). */
  hash: string;
  size: number;
  kind: SampleKind;
  boundingBoxes: BoundingBox[];
  structuredLabels?: StructuredLabel[];
  labelMap?: unknown;
  attachments: StoredAttachment[];
  /** HMAC check of a data-acquisition document: undefined when not verified (alg none, no key). */
  signatureValid?: boolean;
  acquisition?: AcquisitionSummary;
  /** False when a JSON/CBOR/CSV sample was larger than `inspectBytes` and stored unchecked. */
  validated: boolean;
  uploadSource?: string;
  deviceType?: string;
  receivedAt: string;
}

export type FileResult =
  | { success: true; sampleId: number; fileName: string; projectId: number }
  | { success: false; error: string };

class SampleFailure extends Error {}

/**
 * Edge Impulse ingestion API simulator (contract §1): `POST /api/{category}/files` (multipart, every part named
 * `data`, per-file results under a 200) and the legacy `POST /api/{category}/data` (one data-acquisition
 * document, plain-text answers). See README.md.
 */
export class EdgeImpulseSimulator extends Simulator {
  private readonly apiKeys = new Map<string, EdgeImpulseApiKey>();
  private readonly hmacKeys = new Map<number, string>();
  readonly maxFilesPerRequest: number;
  readonly maxFileBytes: number;
  readonly responseContentType: string;
  readonly splitTrainRatio: number;
  readonly inspectBytes: number;
  private readonly firstSampleId: number;
  private nextSampleId: number;
  private readonly projects = new Map<number, EdgeImpulseSample[]>();
  private readonly hashes = new Map<number, Map<string, number[]>>();

  constructor(options: EdgeImpulseSimulatorOptions = {}) {
    super('edge-impulse', options);
    for (const [key, value] of Object.entries(
      options.apiKeys ?? { [DEFAULT_API_KEY]: { projectId: DEFAULT_PROJECT_ID } },
    )) {
      this.apiKeys.set(key, { projectId: value.projectId });
    }
    for (const [projectId, key] of Object.entries(options.hmacKeys ?? {}))
      this.hmacKeys.set(Number(projectId), key);
    this.maxFilesPerRequest = options.maxFilesPerRequest ?? DEFAULT_MAX_FILES_PER_REQUEST;
    this.maxFileBytes = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
    this.responseContentType = options.responseContentType ?? DEFAULT_RESPONSE_CONTENT_TYPE;
    this.splitTrainRatio = options.splitTrainRatio ?? DEFAULT_SPLIT_TRAIN_RATIO;
    this.inspectBytes = options.inspectBytes ?? DEFAULT_INSPECT_BYTES;
    this.firstSampleId = this.rng.int(SAMPLE_ID_BASE_RANGE[0], SAMPLE_ID_BASE_RANGE[1]);
    this.nextSampleId = this.firstSampleId;

    this.route('POST', '/api/:category/files', 'ingestFiles', (req) => this.ingestFiles(req));
    this.route('POST', '/api/:category/data', 'ingestData', (req) => this.ingestData(req));
    this.onState(() => ({
      projects: Object.fromEntries([...this.projects].map(([id, samples]) => [id, { samples }])),
      totalSamples: this.samples().length,
    }));
    this.onReset(() => {
      this.projects.clear();
      this.hashes.clear();
      this.nextSampleId = this.firstSampleId;
    });
  }

  /** Stored samples of one project, or of every project (by sample id). */
  samples(projectId?: number): EdgeImpulseSample[] {
    if (projectId !== undefined) return [...(this.projects.get(projectId) ?? [])];
    return [...this.projects.values()].flat().sort((a, b) => a.sampleId - b.sampleId);
  }

  sample(sampleId: number): EdgeImpulseSample | undefined {
    return this.samples().find((s) => s.sampleId === sampleId);
  }

  /** Accepts another API key (or moves one to another project). */
  setApiKey(key: string, projectId: number): void {
    this.apiKeys.set(key, { projectId });
  }

  /** Sets (or with `undefined` removes) the HMAC key of a project. */
  setHmacKey(projectId: number, key: string | undefined): void {
    if (key === undefined) this.hmacKeys.delete(projectId);
    else this.hmacKeys.set(projectId, key);
  }

  // ---------------------------------------------------------------- /files

  private json(status: number, body: unknown): SimResponse {
    return { status, body, contentType: this.responseContentType };
  }

  private async ingestFiles(req: SimRequest): Promise<SimResponse> {
    const fail = async (status: number, error: string): Promise<SimResponse> => {
      await drain(req);
      req.note({ error });
      return this.json(status, { success: false, error });
    };
    const category = req.params.category ?? '';
    if (!isCategory(category)) return fail(UNKNOWN_CATEGORY_STATUS, `Unknown category "${category}"`);
    const auth = this.authenticate(req);
    if ('error' in auth) return fail(401, auth.error);
    const projectId = auth.projectId;
    req.note({ projectId, category });
    if (!isMultipart(req)) return fail(NOT_MULTIPART_STATUS, 'Content-Type must be multipart/form-data');

    let headers: IngestionHeaders;
    try {
      headers = parseIngestionHeaders(req.headers);
    } catch (err) {
      if (err instanceof HeaderError || err instanceof LabelFileError)
        return fail(INVALID_HEADER_STATUS, err.message);
      throw err;
    }

    let files: MultipartFile[];
    let fieldNames: string[];
    try {
      // busboy flags a part that reaches its limit as truncated, so the limit given is one byte more.
      const parsed = await parseMultipart(req, {
        maxFileBytes: this.maxFileBytes + 1,
        keepBytes: this.inspectBytes,
      });
      files = parsed.files.map((f) => ({ ...f, filename: repairUtf8(f.filename) }));
      fieldNames = parsed.fields.map((f) => f.name);
    } catch (err) {
      if (err instanceof MultipartError) return fail(400, `Invalid multipart body: ${err.message}`);
      throw err;
    }

    // Request-level checks on the parts (assumptions.ts: UNEXPECTED_PART_STATUS, TOO_MANY_FILES_STATUS, ...).
    const field = fieldNames[0];
    if (field !== undefined) {
      return fail(
        UNEXPECTED_PART_STATUS,
        `Unexpected field "${field}": every part must be a file named "data"`,
      );
    }
    const stranger = files.find((f) => f.field !== 'data');
    if (stranger) {
      return fail(
        UNEXPECTED_PART_STATUS,
        `Unexpected field "${stranger.field}": every part must be named "data"`,
      );
    }
    if (files.length > this.maxFilesPerRequest) {
      return fail(
        TOO_MANY_FILES_STATUS,
        `Too many files: ${files.length}, the maximum is ${this.maxFilesPerRequest} per request`,
      );
    }
    const big = files.find((f) => f.truncated || f.size > this.maxFileBytes);
    if (big) {
      return fail(
        FILE_TOO_LARGE_STATUS,
        `File "${big.filename}" is too large, the maximum is ${this.maxFileBytes} bytes`,
      );
    }

    const labelFiles = emptyLabelFiles();
    try {
      for (const f of files.filter((p) => isLabelsFileName(p.filename)))
        parseLabelFile(f.filename, f.bytes, labelFiles);
    } catch (err) {
      if (err instanceof LabelFileError) return fail(LABEL_FILE_ERROR_STATUS, err.message);
      throw err;
    }
    const attachmentNames = new Set<string>();
    for (const raw of labelFiles.attachments.values()) {
      if (!Array.isArray(raw)) continue;
      for (const a of raw as unknown[]) {
        if (typeof a === 'object' && a !== null && 'filename' in a && typeof a.filename === 'string') {
          attachmentNames.add(a.filename);
        }
      }
    }
    const samples = files.filter((f) => !isLabelsFileName(f.filename) && !attachmentNames.has(f.filename));
    if (samples.length === 0) return fail(UNEXPECTED_PART_STATUS, 'No sample files in this request');
    const sampleNames = new Set(samples.map((s) => s.filename));
    const orphan = referencedFileNames(labelFiles).find((r) => !sampleNames.has(r.name));
    if (orphan) {
      return fail(
        LABEL_FILE_ERROR_STATUS,
        `Label file (${orphan.type}) refers to "${orphan.name}", which is not a sample in this request`,
      );
    }

    if (!MISSING_ATTACHMENT_IS_PER_FILE) {
      const names = new Set(files.map((f) => f.filename));
      const missing = [...attachmentNames].find((n) => !names.has(n));
      if (missing) return fail(LABEL_FILE_ERROR_STATUS, `Attachment "${missing}" is not in this request`);
    }

    const results: FileResult[] = [];
    for (const part of samples) {
      try {
        const sample = this.storeFilePart(part, files, labelFiles, headers, projectId, category);
        results.push({ success: true, sampleId: sample.sampleId, fileName: sample.fileName, projectId });
      } catch (err) {
        if (!(err instanceof SampleFailure)) throw err;
        results.push({ success: false, error: err.message });
      }
    }
    req.note({ labelFiles: labelFiles.seen, results });
    const success = TOP_LEVEL_SUCCESS_WHEN_ALL_FILES_FAIL || results.some((r) => r.success);
    return this.json(200, { success, files: results });
  }

  private storeFilePart(
    part: MultipartFile,
    allParts: MultipartFile[],
    labelFiles: LabelFiles,
    headers: IngestionHeaders,
    projectId: number,
    category: Category,
  ): EdgeImpulseSample {
    const name = part.filename;
    const sniffed = sniffSample(name, part.head, part.size);
    if (!sniffed.ok) throw new SampleFailure(sniffed.error);

    let acquisition: ParsedDocument | undefined;
    let validated = true;
    let count: number | undefined;
    if (sniffed.kind === 'json' || sniffed.kind === 'cbor') {
      if (part.bytes) {
        const format = sniffDocumentFormat(part.bytes) ?? sniffed.kind;
        acquisition = this.parseDocument(part.bytes, format, name);
        count = acquisition.valueCount;
      } else {
        validated = false;
      }
    } else if (sniffed.kind === 'csv' || (sniffed.kind === 'txt' && TXT_IS_CSV)) {
      if (part.bytes) {
        const csv = checkSampleCsv(name, part.bytes);
        if (!csv.ok) throw new SampleFailure(csv.error);
        count = csv.rows;
      } else {
        validated = false;
      }
    }

    const where = `"${name}"`;
    let boundingBoxes: BoundingBox[];
    let structuredLabels: StructuredLabel[] | undefined;
    let labelMap: unknown;
    let attachmentRefs: AttachmentRef[] = [];
    try {
      const boxes = labelFiles.boundingBoxes.get(name);
      const fromFile = boxes !== undefined ? validateBoundingBoxes(boxes, where) : undefined;
      boundingBoxes =
        (LABELS_FILE_BEATS_BOUNDING_BOX_HEADER
          ? (fromFile ?? headers.boundingBoxes)
          : (headers.boundingBoxes ?? fromFile)) ?? [];
      const structured = labelFiles.structuredLabels.get(name);
      if (structured !== undefined) structuredLabels = validateStructuredLabels(structured, where, count);
      const map = labelFiles.labelMaps.get(name);
      if (map !== undefined) labelMap = validateLabelMap(map, where);
      const att = labelFiles.attachments.get(name);
      if (att !== undefined) attachmentRefs = validateAttachments(att, where);
    } catch (err) {
      if (err instanceof LabelEntryError) throw new SampleFailure(err.message);
      throw err;
    }
    const attachments: StoredAttachment[] = attachmentRefs.map((ref) => {
      const p = allParts.find((f) => f.filename === ref.filename);
      if (!p) throw new SampleFailure(`Attachment "${ref.filename}" for ${where} is not in this request`);
      return { fileName: p.filename, size: p.size, sha256: p.sha256 };
    });

    const sample = this.store({
      projectId,
      requestedCategory: category,
      originalFileName: name,
      endpoint: 'files',
      hash: part.sha256,
      size: part.size,
      kind: sniffed.kind,
      headers,
      acquisition,
      bytes: part.bytes,
      validated,
      boundingBoxes,
      structuredLabels,
      labelMap,
      attachments,
    });
    if (typeof sample === 'string') throw new SampleFailure(sample);
    return sample;
  }

  private parseDocument(bytes: Buffer, format: DocumentFormat, name: string): ParsedDocument {
    try {
      return parseAcquisition(bytes, format);
    } catch (err) {
      if (err instanceof AcquisitionError) {
        throw new SampleFailure(`Invalid data acquisition file "${name}": ${err.message}`);
      }
      throw err;
    }
  }

  // ---------------------------------------------------------------- /data

  private async ingestData(req: SimRequest): Promise<SimResponse> {
    const fail = async (status: number, error: string): Promise<SimResponse> => {
      await drain(req);
      req.note({ error });
      return DATA_ERRORS_ARE_PLAIN_TEXT
        ? { status, body: error }
        : { status, body: { success: false, error }, contentType: this.responseContentType };
    };
    const category = req.params.category ?? '';
    if (!isCategory(category)) return fail(UNKNOWN_CATEGORY_STATUS, `Unknown category "${category}"`);
    const auth = this.authenticate(req);
    if ('error' in auth) return fail(401, auth.error);
    const projectId = auth.projectId;
    req.note({ projectId, category, contentType: header(req.headers, 'content-type') });

    let headers: IngestionHeaders;
    try {
      headers = parseIngestionHeaders(req.headers);
    } catch (err) {
      if (err instanceof HeaderError || err instanceof LabelFileError) {
        // §1.5: the missing x-file-name (421) is reported before any other header problem.
        if (header(req.headers, 'x-file-name') === undefined)
          return fail(421, 'Missing "x-file-name" header');
        return fail(INVALID_HEADER_STATUS, err.message);
      }
      throw err;
    }
    const fileName = headers.fileName;
    if (fileName === undefined) return fail(421, 'Missing "x-file-name" header');

    let bytes: Buffer | undefined;
    if (isMultipart(req)) {
      // §1.4: the Rust runner posts multipart (part "message") here; take the first file part, else the first field.
      try {
        const parsed = await parseMultipart(req, {
          maxFileBytes: this.maxFileBytes + 1,
          keepBytes: this.maxFileBytes,
        });
        const file = parsed.files[0];
        if (file && (file.truncated || file.size > this.maxFileBytes))
          return fail(FILE_TOO_LARGE_STATUS, `Body is too large, the maximum is ${this.maxFileBytes} bytes`);
        const fieldValue = parsed.fields[0]?.value;
        bytes = file ? file.bytes : fieldValue !== undefined ? Buffer.from(fieldValue, 'utf8') : undefined;
        req.note({ multipartPart: file?.field ?? parsed.fields[0]?.name });
      } catch (err) {
        if (err instanceof MultipartError) return fail(400, `Invalid multipart body: ${err.message}`);
        throw err;
      }
    } else {
      bytes = await req.body(this.maxFileBytes);
      if (bytes === undefined)
        return fail(FILE_TOO_LARGE_STATUS, `Body is too large, the maximum is ${this.maxFileBytes} bytes`);
    }
    if (bytes === undefined || bytes.length === 0)
      return fail(400, 'Empty body: expected a data acquisition document');

    let parsed: ParsedDocument;
    try {
      parsed = parseAcquisition(bytes);
    } catch (err) {
      if (err instanceof AcquisitionError) return fail(400, `Invalid message: ${err.message}`);
      throw err;
    }

    const sample = this.store({
      projectId,
      requestedCategory: category,
      originalFileName: fileName,
      endpoint: 'data',
      hash: createHash('sha256').update(bytes).digest('hex'),
      size: bytes.length,
      kind: parsed.format,
      headers,
      acquisition: parsed,
      bytes,
      validated: true,
      boundingBoxes: headers.boundingBoxes ?? [],
      attachments: [],
    });
    if (typeof sample === 'string') return fail(DATA_DUPLICATE_STATUS, sample);
    req.note({ sampleId: sample.sampleId, fileName: sample.fileName, signatureValid: sample.signatureValid });
    return { status: 200, body: sample.fileName };
  }

  // ---------------------------------------------------------------- shared

  private authenticate(req: SimRequest): { projectId: number } | { error: string } {
    return this.projectForApiKey(header(req.headers, 'x-api-key'));
  }

  /** The project an `x-api-key` value opens, or why it opens none (shared with the Studio API simulator). */
  projectForApiKey(value: string | undefined): { projectId: number } | { error: string } {
    const key = value?.trim();
    if (!key) return { error: 'Missing x-api-key header' };
    const entry = this.apiKeys.get(key);
    if (!entry) return { error: 'Invalid API key' };
    return { projectId: entry.projectId };
  }

  /** The HMAC key a project's signatures are checked with, if it has one. */
  hmacKeyOf(projectId: number): string | undefined {
    return this.hmacKeys.get(projectId);
  }

  /** Runs the duplicate and signature checks and stores; answers the error text instead when rejected. */
  private store(input: {
    projectId: number;
    requestedCategory: Category;
    originalFileName: string;
    endpoint: 'files' | 'data';
    hash: string;
    size: number;
    kind: SampleKind;
    headers: IngestionHeaders;
    acquisition: ParsedDocument | undefined;
    bytes: Buffer | undefined;
    validated: boolean;
    boundingBoxes: BoundingBox[];
    structuredLabels?: StructuredLabel[] | undefined;
    labelMap?: unknown;
    attachments: StoredAttachment[];
  }): EdgeImpulseSample | string {
    const { projectId, headers } = input;
    let byHash = this.hashes.get(projectId);
    if (!byHash) {
      byHash = new Map();
      this.hashes.set(projectId, byHash);
    }
    const existing = byHash.get(input.hash) ?? [];
    if (headers.disallowDuplicates && existing.length > 0) return duplicateError(existing);
    const acq = input.acquisition;
    const signatureValid =
      acq && input.bytes ? verifySignature(acq, input.bytes, this.hmacKeys.get(projectId)) : undefined;
    if (signatureValid === false && !STORE_INVALID_SIGNATURES) return 'Invalid signature';

    const category: StoredCategory =
      input.requestedCategory === 'split'
        ? this.rng.next() < this.splitTrainRatio
          ? 'training'
          : 'testing'
        : input.requestedCategory;
    const fileName = headers.addDateId
      ? withDateId(input.originalFileName, this.rng.id(DATE_ID_LENGTH, DATE_ID_ALPHABET))
      : input.originalFileName;
    const sample: EdgeImpulseSample = {
      sampleId: this.nextSampleId++,
      projectId,
      fileName,
      originalFileName: input.originalFileName,
      category,
      requestedCategory: input.requestedCategory,
      endpoint: input.endpoint,
      metadata: headers.metadata,
      hash: input.hash,
      size: input.size,
      kind: input.kind,
      boundingBoxes: input.boundingBoxes,
      attachments: input.attachments,
      validated: input.validated,
      receivedAt: new Date().toISOString(),
    };
    const label =
      input.structuredLabels && !INFER_LABEL_FOR_STRUCTURED_SAMPLES && headers.label === undefined
        ? undefined
        : resolveLabel(headers, input.originalFileName);
    if (label !== undefined) sample.label = label;
    if (input.structuredLabels) sample.structuredLabels = input.structuredLabels;
    if (input.labelMap !== undefined) sample.labelMap = input.labelMap;
    if (headers.uploadSource !== undefined) sample.uploadSource = headers.uploadSource;
    if (headers.deviceType !== undefined) sample.deviceType = headers.deviceType;
    if (acq) {
      if (signatureValid !== undefined) sample.signatureValid = signatureValid;
      const summary: AcquisitionSummary = {
        format: acq.format,
        alg: acq.doc.protected.alg,
        deviceType: acq.doc.payload.device_type,
        intervalMs: acq.doc.payload.interval_ms,
        sensors: acq.doc.payload.sensors.map((s) => ({ name: s.name, units: s.units })),
        valueCount: acq.valueCount,
      };
      const deviceName = acq.doc.payload.device_name;
      if (typeof deviceName === 'string') summary.deviceName = deviceName;
      sample.acquisition = summary;
    }
    byHash.set(input.hash, [...existing, sample.sampleId]);
    let list = this.projects.get(projectId);
    if (!list) {
      list = [];
      this.projects.set(projectId, list);
    }
    list.push(sample);
    return sample;
  }
}

function isCategory(value: string): value is Category {
  return (CATEGORIES as readonly string[]).includes(value);
}

/** Reads and discards whatever is left of the request body, so the client can finish sending before the answer. */
async function drain(req: SimRequest): Promise<void> {
  if (req.raw.readableEnded) return;
  try {
    for await (const _ of req.raw as AsyncIterable<Buffer>) {
      // discard
    }
  } catch {
    // the client went away; nothing to drain
  }
}
