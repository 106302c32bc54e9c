import {
  isMultipart,
  KeyedBuckets,
  MultipartError,
  type MultipartResult,
  parseMultipart,
  type SimRequest,
  type SimResponse,
  Simulator,
  type SimulatorOptions,
} from '../framework/index.ts';
import {
  BURST,
  DATA_TOO_BIG_CODE,
  FILE_ID_LENGTH,
  FILE_ID_PATTERN,
  FILE_TOO_BIG_STATUS,
  HEAD_BYTES,
  LIMITS,
  MAX_FILE_BYTES,
  MAX_JSON_BYTES,
  MAX_PIXELS,
  MAX_STATUS_IDS,
  NO_IDS_CODE,
  RATE_LIMITED_BODY,
  REFILL_PER_SECOND,
  REJECTED_VIDEO_CODECS,
  TAIL_BYTES,
  UNAUTHORIZED_BODY,
  VALIDATION_DELAY_MS,
} from './assumptions.ts';
import { type IngestData, parseIngestData } from './data.ts';
import { type ApiKeyConfig, type KeyIdentity, KeyRing } from './keys.ts';
import { type Limits, Project } from './project.ts';
import {
  ALLOWED_EXTENSIONS,
  extensionOf,
  type FileStatus,
  type ValidationOutcome,
  validateContent,
} from './validation.ts';

/** A fake key for local runs and tests (not a real credential). */
export const DEFAULT_API_KEY = 'sim-project:sim-key:INST:V1:sim-id:sim-secret';

export const INGEST_PATH = '/api/v0/externalData/ingestImage';
export const FILE_STATUS_PATH = '/api/v0/externalData/fileStatus';

export interface InstrumentalSimulatorOptions extends SimulatorOptions {
  /**
   * Valid full keys (`[project-slug:][key-name:]INST:V1:<identifier>:<secret>`), or `{ key, project }`. A key's
   * project is `project`, else its slug prefix, else "sim-project". Default: [DEFAULT_API_KEY].
   */
  apiKeys?: ApiKeyConfig[];
  /** Token bucket per key, shared by ingestImage and fileStatus (default 50 burst, 5/s). */
  burst?: number;
  refillPerSecond?: number;
  /** How long a file stays PENDING_VALIDATION (default 2000 ms). */
  validationDelayMs?: number;
  /** File part limit → 413 (default 50 MiB). */
  maxFileBytes?: number;
  /** JSON `data` part limit → 413 (default 4 MiB). */
  maxJsonBytes?: number;
  /** Status for a file over `maxFileBytes` (default 413; the doc also lists FILE_TOO_BIG under 400). */
  fileTooBigStatus?: 400 | 413;
  /** Most ids per fileStatus call (default 100). */
  maxStatusIds?: number;
  /** Largest image/video in pixels (default 32 000 000). */
  maxPixels?: number;
  /** MP4 sample-entry 4CCs that fail validation (default ['mp4v']). */
  rejectedVideoCodecs?: string[];
  /** Per-project and per-unit limits (defaults from the vendor doc). */
  limits?: Partial<Limits>;
  /** Clock in ms for the rate limiter and validation delay (default performance.now). */
  now?: () => number;
}

export interface StoredFile {
  fileId: string;
  project: string;
  /** The key's `<identifier>` (never the secret). */
  keyIdentifier: string;
  data: IngestData;
  fileName: string;
  contentType: string;
  size: number;
  sha256: string;
  /** How the `data` part arrived. */
  dataPart: 'field' | 'file';
  receivedAt: string;
  status: FileStatus;
  /** Set once validation has finished: why it failed, or what was checked. */
  reason?: string;
  detected?: ValidationOutcome['detected'];
}

interface FileRecord {
  fileId: string;
  project: string;
  keyIdentifier: string;
  data: IngestData;
  fileName: string;
  contentType: string;
  size: number;
  sha256: string;
  dataPart: 'field' | 'file';
  receivedAt: string;
  validatesAt: number;
  settled: boolean;
  outcome: ValidationOutcome;
}

function error(status: number, code: string, msg: string): SimResponse {
  return { status, body: { code, msg } };
}

function parseError(reason: string): SimResponse {
  return {
    status: 400,
    body: { error: 'Could not parse request body as the expected JSON format.', reason },
  };
}

/** Reads and discards whatever is left of the request body, so the client sees the answer, not a reset. */
async function drain(req: SimRequest): Promise<void> {
  const raw = req.raw;
  if (raw.readableEnded || raw.destroyed) return;
  await new Promise<void>((resolve) => {
    raw.once('end', resolve);
    raw.once('close', resolve);
    raw.on('error', () => resolve());
    raw.resume();
  });
}

/**
 * Instrumental Image/Video Streams API: `POST /api/v0/externalData/ingestImage` (multipart `file` + `data`)
 * and `GET /api/v0/externalData/fileStatus?ids=…`, with the documented limits, error bodies and asynchronous
 * validation (PENDING_VALIDATION → UPLOADED | FAILED_VALIDATION).
 */
export class InstrumentalSimulator extends Simulator {
  readonly keys: KeyRing;
  private readonly buckets: KeyedBuckets;
  private readonly now: () => number;
  private readonly validationDelayMs: number;
  private readonly maxFileBytes: number;
  private readonly maxJsonBytes: number;
  private readonly fileTooBigStatus: 400 | 413;
  private readonly maxStatusIds: number;
  private readonly maxPixels: number;
  private readonly rejectedVideoCodecs: readonly string[];
  private readonly limits: Limits;
  private readonly records = new Map<string, FileRecord>();
  private readonly projects = new Map<string, Project>();
  private readonly counters = { ingested: 0, rejected: 0, rateLimited: 0, unauthorized: 0 };

  constructor(options: InstrumentalSimulatorOptions = {}) {
    super('instrumental', options);
    this.keys = new KeyRing(options.apiKeys ?? [DEFAULT_API_KEY]);
    this.now = options.now ?? (() => performance.now());
    this.buckets = new KeyedBuckets(
      options.burst ?? BURST,
      options.refillPerSecond ?? REFILL_PER_SECOND,
      this.now,
    );
    this.validationDelayMs = options.validationDelayMs ?? VALIDATION_DELAY_MS;
    this.maxFileBytes = options.maxFileBytes ?? MAX_FILE_BYTES;
    this.maxJsonBytes = options.maxJsonBytes ?? MAX_JSON_BYTES;
    this.fileTooBigStatus = options.fileTooBigStatus ?? FILE_TOO_BIG_STATUS;
    this.maxStatusIds = options.maxStatusIds ?? MAX_STATUS_IDS;
    this.maxPixels = options.maxPixels ?? MAX_PIXELS;
    this.rejectedVideoCodecs = options.rejectedVideoCodecs ?? REJECTED_VIDEO_CODECS;
    this.limits = { ...LIMITS, ...(options.limits ?? {}) };

    this.route('POST', INGEST_PATH, 'ingestImage', (req) => this.ingestImage(req));
    this.route('GET', FILE_STATUS_PATH, 'fileStatus', (req) => this.fileStatus(req));
    // Unofficial (seen only in third-party scripts, contract §3.1); handy as a liveness probe.
    this.route('GET', '/healthcheck', 'healthcheck', () => ({
      status: 200,
      body: { elasticReachable: true, databaseReachable: true },
    }));
    this.onState(() => this.snapshot());
    this.onReset(() => {
      this.records.clear();
      this.projects.clear();
      this.buckets.clear();
      Object.assign(this.counters, { ingested: 0, rejected: 0, rateLimited: 0, unauthorized: 0 });
    });
  }

  /** Every stored file, oldest first, with its current status. */
  files(): StoredFile[] {
    return [...this.records.values()].map((r) => this.view(r));
  }

  file(fileId: string): StoredFile | undefined {
    const r = this.records.get(fileId);
    return r ? this.view(r) : undefined;
  }

  /** Finishes every pending validation now (tests: no waiting on `validationDelayMs`). */
  settle(): StoredFile[] {
    for (const r of this.records.values()) r.settled = true;
    return this.files();
  }

  /** Accepts one more key at run time; answers its identity. */
  addApiKey(config: ApiKeyConfig): KeyIdentity {
    return this.keys.add(config);
  }

  /** Tokens left in a key's bucket (by its identifier). */
  tokensLeft(keyIdentifier: string): number {
    return this.buckets.for(keyIdentifier).available();
  }

  private view(r: FileRecord): StoredFile {
    if (!r.settled && this.now() >= r.validatesAt) r.settled = true;
    const { validatesAt: _v, settled, outcome, ...rest } = r;
    if (!settled) return { ...rest, status: 'PENDING_VALIDATION' };
    return { ...rest, status: outcome.status, reason: outcome.reason, detected: outcome.detected };
  }

  private snapshot(): Record<string, unknown> {
    return {
      files: this.files(),
      projects: Object.fromEntries([...this.projects].map(([name, p]) => [name, p.summary()])),
      counters: { ...this.counters },
    };
  }

  private project(name: string): Project {
    let p = this.projects.get(name);
    if (!p) {
      p = new Project(name);
      this.projects.set(name, p);
    }
    return p;
  }

  /** 401 / 429 gate shared by both routes; answers the caller's identity when it may proceed. */
  private gate(req: SimRequest): { identity: KeyIdentity } | { response: SimResponse } {
    const auth = this.keys.check(req.headers['instrumental-api-key']);
    if (!auth.ok) {
      this.counters.unauthorized++;
      req.note({ auth: 'refused', why: auth.reason });
      return { response: { status: 401, body: UNAUTHORIZED_BODY } };
    }
    const { identity } = auth;
    req.note({ key: identity.identifier, project: identity.project });
    const bucket = this.buckets.for(identity.identifier);
    if (!bucket.take()) {
      this.counters.rateLimited++;
      const retryAfter = Math.max(1, Math.ceil(bucket.secondsUntilToken()));
      req.note({ rateLimited: true, retryAfter });
      return {
        response: { status: 429, headers: { 'retry-after': String(retryAfter) }, body: RATE_LIMITED_BODY },
      };
    }
    return { identity };
  }

  private async ingestImage(req: SimRequest): Promise<SimResponse> {
    const gate = this.gate(req);
    if ('response' in gate) {
      await drain(req);
      return gate.response;
    }
    const res = await this.ingest(req, gate.identity);
    if (res.status !== 200) {
      this.counters.rejected++;
      const body = res.body as { code?: string; reason?: string };
      req.note({ code: body.code ?? 'PARSE_ERROR', ...(body.reason ? { reason: body.reason } : {}) });
    }
    return res;
  }

  private async ingest(req: SimRequest, identity: KeyIdentity): Promise<SimResponse> {
    if (!isMultipart(req)) {
      await drain(req);
      return error(
        400,
        'REQUEST_DATA_NOT_FOUND',
        'The request must be multipart/form-data with a data part.',
      );
    }
    let parts: MultipartResult;
    try {
      parts = await parseMultipart(req, {
        maxFileBytes: this.maxFileBytes + 1, // busboy marks a part truncated when it reaches the limit
        maxFieldBytes: this.maxJsonBytes + 1,
        maxParts: 64,
        headBytes: HEAD_BYTES,
        tailBytes: TAIL_BYTES,
        keepBytes: 0,
        keepBytesFor: { data: this.maxJsonBytes },
      });
    } catch (err) {
      if (!(err instanceof MultipartError)) throw err;
      await drain(req);
      return error(400, 'REQUEST_DATA_NOT_FOUND', `Could not read the multipart body: ${err.message}`);
    }
    await drain(req);

    const filePart = parts.files.find((f) => f.field === 'file');
    const fileField = filePart ? undefined : parts.fields.find((f) => f.name === 'file');
    const dataField = parts.fields.find((f) => f.name === 'data');
    const dataFile = dataField ? undefined : parts.files.find((f) => f.field === 'data');
    req.note({
      parts: [
        ...parts.fields.map((f) => ({ name: f.name, kind: 'field', contentType: f.contentType })),
        ...parts.files.map((f) => ({ name: f.field, kind: 'file', filename: f.filename, size: f.size })),
      ],
    });

    if (filePart?.truncated) {
      return error(
        this.fileTooBigStatus,
        'FILE_TOO_BIG',
        `The file exceeds the maximum size of ${this.maxFileBytes} bytes.`,
      );
    }
    if (dataField?.truncated || (dataFile && dataFile.size > this.maxJsonBytes)) {
      return error(
        413,
        DATA_TOO_BIG_CODE,
        `The JSON data part exceeds the maximum size of ${this.maxJsonBytes} bytes.`,
      );
    }
    const dataText = dataField?.value ?? dataFile?.bytes?.toString('utf8');
    if (dataText === undefined)
      return error(400, 'REQUEST_DATA_NOT_FOUND', 'No data section was present in the request.');
    if (!filePart && !fileField)
      return error(400, 'IMAGE_FILE_NOT_FOUND', 'No file section was present in the request.');

    const parsed = parseIngestData(dataText, this.limits.tagsPerRequest);
    if (!parsed.ok) return parseError(parsed.reason);
    const data = parsed.data;
    for (const key of ['serialNumber', 'stationName', 'imageType'] as const) {
      if (data[key].trim() === '') return error(400, 'INVALID_DATA', `${key} must not be empty.`);
    }
    const fileName = filePart?.filename ?? '';
    if (!filePart || !extensionOf(fileName)) {
      return error(
        400,
        'INVALID_DATA',
        `The file name "${fileName}" must end in one of ${ALLOWED_EXTENSIONS.join(', ')}.`,
      );
    }

    const project = this.project(identity.project);
    const check = project.check(data, this.limits);
    if (!check.ok) return error(400, check.code, check.msg);

    // Everything passed: only now is anything saved.
    check.commit();
    const fileId = this.newFileId();
    const outcome = validateContent(filePart, {
      maxPixels: this.maxPixels,
      rejectedVideoCodecs: this.rejectedVideoCodecs,
    });
    const record: FileRecord = {
      fileId,
      project: identity.project,
      keyIdentifier: identity.identifier,
      data,
      fileName,
      contentType: filePart.contentType,
      size: filePart.size,
      sha256: filePart.sha256,
      dataPart: dataField ? 'field' : 'file',
      receivedAt: new Date().toISOString(),
      validatesAt: this.now() + this.validationDelayMs,
      settled: this.validationDelayMs <= 0,
      outcome,
    };
    this.records.set(fileId, record);
    this.counters.ingested++;
    req.note({ fileId, fileName, size: filePart.size, validation: outcome.status });
    this.emit('ingested', this.view(record));
    return { status: 200, body: { fileId } };
  }

  private newFileId(): string {
    for (;;) {
      const id = this.rng.id(FILE_ID_LENGTH);
      if (!this.records.has(id)) return id;
    }
  }

  private async fileStatus(req: SimRequest): Promise<SimResponse> {
    await drain(req);
    const gate = this.gate(req);
    if ('response' in gate) return gate.response;
    const ids = req.url.searchParams.getAll('ids');
    req.note({ ids: ids.length });
    if (ids.length === 0)
      return error(400, NO_IDS_CODE, 'No file ids were given; use ?ids=FILE_ID (repeatable).');
    if (ids.length > this.maxStatusIds) {
      return error(
        400,
        'COULD_NOT_PARSE',
        `At most ${this.maxStatusIds} ids may be requested at once, got ${ids.length}.`,
      );
    }
    const malformed = ids.find((id) => !FILE_ID_PATTERN.test(id));
    if (malformed !== undefined)
      return error(400, 'COULD_NOT_PARSE', `Could not parse file id "${malformed}".`);
    const statuses: Record<string, FileStatus> = {};
    for (const id of ids) {
      const r = this.records.get(id);
      if (!r || r.project !== gate.identity.project)
        return error(400, 'FILE_NOT_FOUND', `File "${id}" was not found.`);
      statuses[id] = this.view(r).status;
    }
    return { status: 200, body: { statuses } };
  }
}
