import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { Agent } from 'undici';
import {
  fingerprint,
  isMultipart,
  type ListenOptions,
  type MultipartResult,
  parseMultipart,
  Rng,
  type RouteHandler,
  type SimRequest,
  type SimResponse,
  Simulator,
  type SimulatorOptions,
} from '../framework/index.ts';
import {
  DECLARED_JPEG_TYPES,
  DECLARED_PNG_TYPES,
  DEFAULT_CALLBACK_TIMEOUT_MS,
  DEFAULT_COMPLETE_AFTER_MS,
  DEFAULT_FAILURE_REASONS,
  DEFAULT_MAX_UPLOAD_BYTES,
  DEFAULT_PROCESSING_AFTER_MS,
  DEFAULT_RESULT_URL_TTL_MS,
  FAILED_MESSAGE_PREFIX,
  FORCED_FAILURE_META_KEY,
  GENERIC_DECLARED_TYPES,
  JPEG_QUALITY,
  QUOTA,
  RATE_LIMIT,
  RESULT_PATH_PREFIX,
  resultObject,
  TASK_CREATED_STATUS,
  TASK_NOT_FOUND,
  TASK_TYPE_LABELS,
  type TaskStatus,
  TERMINAL_STATUSES,
  UNAUTHENTICATED,
  VALIDATION,
  WRONG_METHOD,
} from './assumptions.ts';
import { type CallbackAttempt, isLoopbackUrl, postCallback, wait } from './callbacks.ts';
import { type Envelope, fail, ok, okEnvelope } from './envelope.ts';
import {
  decodeImage,
  encodeImage,
  extensionOf,
  type ImageType,
  imageDimensions,
  lpaRect,
  pixelate,
  replaceBackground,
  sniffImageType,
} from './images.ts';
import {
  IMAGE_KINDS,
  type ImageKind,
  isPlainObject,
  parseJsonObject,
  type TaskRequest,
  type TaskType,
  validateTaskRequest,
} from './validation.ts';

export interface InstaVid360CallbackOptions {
  /** Probability in [0,1] that a callback is silently never sent (seeded). Default 0. */
  lossRate?: number;
  /** Probability in [0,1] that a delivered callback is sent twice (seeded). Default 0. */
  duplicateRate?: number;
  /** Delay before sending, fixed or a [min, max] range in ms (seeded). Default 0. */
  delayMs?: number | [number, number];
  /** Connect/headers/body timeout of one callback POST. Default 2000 ms. */
  timeoutMs?: number;
}

export interface InstaVid360Options extends SimulatorOptions {
  /** Bearer token → user. A user may hold several tokens. Default `{ 'sim-instavid-token-1': { user: 'sim-user-1' } }`. */
  tokens?: Record<string, { user: string }>;
  /** Largest accepted upload in bytes. Default 2 MiB. */
  maxUploadBytes?: number;
  /** Time from task creation to `processing`. Default 200 ms. */
  processingAfterMs?: number;
  /** Time from task creation to the terminal status. Default 1000 ms. */
  completeAfterMs?: number;
  /** Probability in [0,1] that a task fails (seeded). Default 0. `meta.simulate_failure` forces a failure. */
  failureRate?: number;
  callback?: InstaVid360CallbackOptions;
  /** Requests per user per rate window (default 60); `Infinity` disables the limit. */
  requestsPerMinute?: number;
  /** Length of the rate window in ms. Default 60 000. */
  rateWindowMs?: number;
  /** Monthly task credits per user and task type. Default 1000 each. */
  quota?: Partial<Record<TaskType, number>>;
  /**
   * `real` (default): tasks progress on timers. `manual`: time only moves with `advance(ms)` (and `settle()`
   * finishes everything), so tests control every transition.
   */
  clock?: 'real' | 'manual';
  /** Lifetime of result URLs. Default 1 hour. */
  resultUrlTtlMs?: number;
  /** JPEG quality of processed results. Default 90. */
  jpegQuality?: number;
}

export interface StoredUpload {
  key: string;
  user: string;
  kind: ImageKind;
  type: ImageType;
  declaredType: string;
  filename: string;
  size: number;
  width: number;
  height: number;
  sha256: string;
  uploadedAt: string;
  bytes: Buffer;
}

export interface TaskPlan {
  /** The failure reason when this task is going to fail, else false. */
  fail: string | false;
  callback: { lost: boolean; duplicate: boolean; delayMs: number };
}

export interface TaskResult {
  type: ImageType;
  ext: 'jpg' | 'png';
  width: number;
  height: number;
  size: number;
  sha256: string;
  bytes: Buffer;
  expires: number;
}

export interface TaskRecord {
  task: string;
  user: string;
  type: TaskType;
  reference: string;
  original: string;
  background: string | null;
  overlay: string | null;
  options: unknown;
  meta: unknown;
  callbackUrl: string | null;
  status: TaskStatus;
  history: Array<{ status: TaskStatus; at: string }>;
  createdAt: number;
  processingAt: number;
  terminalAt: number;
  plan: TaskPlan;
  failure?: string;
  result?: TaskResult;
  /** The envelope sent to callback_url (the status envelope at the moment the task ended). */
  callbackBody?: Envelope;
  callbacks: CallbackAttempt[];
  /** Why no callback was sent although callback_url was given. */
  callbackSkipped?: 'non-loopback' | 'lost';
}

interface QuotaUsage {
  period: string;
  used: Record<TaskType, number>;
}

interface RateWindow {
  start: number;
  count: number;
}

const DEFAULT_TOKENS: Record<string, { user: string }> = { 'sim-instavid-token-1': { user: 'sim-user-1' } };
const PREFIXES = ['/api/v1', '/api'];
const MAX_JSON_BYTES = 1024 * 1024;

type AuthedHandler = (req: SimRequest, user: string) => Promise<SimResponse> | SimResponse;

/**
 * InstaVid360 Image API simulator (contract: vendor-contracts.md §4): uploads, bg-replace and LPA tasks with a
 * timed lifecycle, status by POST, real processed result images, loopback-only callbacks, a per-minute rate
 * limit and monthly quotas.
 */
export class InstaVid360Simulator extends Simulator {
  private readonly tokens = new Map<string, string>();
  private readonly maxUploadBytes: number;
  private readonly processingAfterMs: number;
  private readonly completeAfterMs: number;
  private readonly failureRate: number;
  private readonly callbackOptions: Required<Omit<InstaVid360CallbackOptions, 'delayMs'>> & {
    delayMs: number | [number, number];
  };
  private readonly requestsPerMinute: number;
  private readonly rateWindowMs: number;
  private readonly quotaLimits: Record<TaskType, number>;
  private readonly clockMode: 'real' | 'manual';
  private readonly manualBase = Date.now();
  private readonly resultUrlTtlMs: number;
  private readonly jpegQuality: number;
  private readonly signingKey: string;
  /** Decides task outcomes (failures, callback loss/duplication/delay): seeded, independent of the ids. */
  private readonly outcomeRng: Rng;

  private offset = 0;
  private publicUrl = '';
  private readonly uploadsByKey = new Map<string, StoredUpload>();
  private readonly taskById = new Map<string, TaskRecord>();
  private readonly quotaByUser = new Map<string, QuotaUsage>();
  private readonly rateByUser = new Map<string, RateWindow>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly inflight = new Set<Promise<void>>();
  private readonly internalErrors: string[] = [];
  private abort = new AbortController();
  private agent: Agent | undefined;

  constructor(options: InstaVid360Options = {}) {
    super('instavid360', options);
    for (const [token, { user }] of Object.entries(options.tokens ?? DEFAULT_TOKENS))
      this.tokens.set(token, user);
    this.maxUploadBytes = options.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES;
    this.processingAfterMs = options.processingAfterMs ?? DEFAULT_PROCESSING_AFTER_MS;
    this.completeAfterMs = Math.max(
      this.processingAfterMs,
      options.completeAfterMs ?? DEFAULT_COMPLETE_AFTER_MS,
    );
    this.failureRate = options.failureRate ?? 0;
    this.callbackOptions = {
      lossRate: options.callback?.lossRate ?? 0,
      duplicateRate: options.callback?.duplicateRate ?? 0,
      delayMs: options.callback?.delayMs ?? 0,
      timeoutMs: options.callback?.timeoutMs ?? DEFAULT_CALLBACK_TIMEOUT_MS,
    };
    this.requestsPerMinute = options.requestsPerMinute ?? RATE_LIMIT.defaultRequestsPerMinute;
    this.rateWindowMs = options.rateWindowMs ?? 60_000;
    this.quotaLimits = {
      bgReplace: options.quota?.bgReplace ?? QUOTA.defaultMonthly.bgReplace,
      lpa: options.quota?.lpa ?? QUOTA.defaultMonthly.lpa,
    };
    this.clockMode = options.clock ?? 'real';
    this.resultUrlTtlMs = options.resultUrlTtlMs ?? DEFAULT_RESULT_URL_TTL_MS;
    this.jpegQuality = options.jpegQuality ?? JPEG_QUALITY;
    const seed = options.seed ?? 1;
    this.signingKey = `instavid360-simulator-signing-key-${seed}`;
    this.outcomeRng = new Rng((seed ^ 0x5eed1e55) >>> 0);

    for (const prefix of PREFIXES) {
      this.route(
        'POST',
        `${prefix}/image/upload/:kind`,
        'upload',
        this.authed((r, u) => this.upload(r, u)),
      );
      this.route(
        'POST',
        `${prefix}/image/task/bg-replace`,
        'bgReplace',
        this.authed((r, u) => this.createTask(r, u, 'bgReplace')),
      );
      this.route(
        'POST',
        `${prefix}/image/task/lpa`,
        'lpa',
        this.authed((r, u) => this.createTask(r, u, 'lpa')),
      );
      this.route(
        'POST',
        `${prefix}/image/task/:task`,
        'taskStatus',
        this.authed((r, u) => this.status(r, u)),
      );
      this.route('GET', `${prefix}/image/task/:task`, 'taskStatusWrongMethod', (req) => {
        req.raw.resume();
        return fail(WRONG_METHOD.status, WRONG_METHOD.message, ['Supported methods: POST.'], {
          allow: 'POST',
        });
      });
    }
    this.route('GET', `${RESULT_PATH_PREFIX}/:file`, 'result', (req) => this.result(req));

    this.onState(() => this.snapshot());
    this.onReset(() => {
      this.cancelPending();
      this.uploadsByKey.clear();
      this.taskById.clear();
      this.quotaByUser.clear();
      this.rateByUser.clear();
      this.internalErrors.length = 0;
    });
  }

  // ---------------------------------------------------------------------------------------------------------
  // Public helpers
  // ---------------------------------------------------------------------------------------------------------

  /** The simulator's clock in epoch ms (real time, or the manual clock, plus everything `advance()` added). */
  now(): number {
    return (this.clockMode === 'manual' ? this.manualBase : Date.now()) + this.offset;
  }

  /** Moves the clock forward, applies every transition now due and waits for the callbacks they send. */
  async advance(ms: number): Promise<void> {
    this.offset += ms;
    this.tick();
    await this.whenIdle();
  }

  /** Ends every unfinished task now (its planned outcome) and waits for all callbacks. */
  async settle(): Promise<void> {
    this.tick(true);
    await this.whenIdle();
  }

  /** Waits until no callback is being delayed or sent. */
  async whenIdle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  /** Adds a bearer token for a user (a user may hold several). */
  addToken(token: string, user: string): void {
    this.tokens.set(token, user);
  }

  /** Gives a user (or every user) their monthly credits back, for one task type or both. */
  resetQuota(user?: string, type?: TaskType): void {
    for (const [u, usage] of this.quotaByUser) {
      if (user !== undefined && u !== user) continue;
      if (type) usage.used[type] = 0;
      else usage.used = { bgReplace: 0, lpa: 0 };
    }
  }

  /** Credits used this month by a user. */
  quotaUsed(user: string): Record<TaskType, number> {
    return { ...this.quotaFor(user).used };
  }

  getTask(task: string): TaskRecord | undefined {
    return this.taskById.get(task);
  }

  listTasks(): TaskRecord[] {
    return [...this.taskById.values()];
  }

  getUpload(key: string): StoredUpload | undefined {
    return this.uploadsByKey.get(key);
  }

  listUploads(user?: string): StoredUpload[] {
    return [...this.uploadsByKey.values()].filter((u) => user === undefined || u.user === user);
  }

  /** The envelope the status route would answer for this task now. */
  taskEnvelope(task: TaskRecord): Envelope {
    const data: Record<string, unknown> = {
      reference: task.reference,
      status: task.status,
      task: task.task,
      task_type: TASK_TYPE_LABELS[task.type],
      options: task.options,
      meta: task.meta,
      callback_url: task.callbackUrl,
      result: task.status === 'complete' && task.result ? resultObject(this.resultUrl(task)) : null,
    };
    if (task.status === 'failed') {
      const reason = task.failure ?? DEFAULT_FAILURE_REASONS[task.type];
      data.messages = [reason];
      return okEnvelope(data, `${FAILED_MESSAGE_PREFIX}${reason}`);
    }
    return okEnvelope(data);
  }

  override async start(options: ListenOptions = {}): Promise<string> {
    const url = await super.start(options);
    this.publicUrl = url;
    return url;
  }

  /** Clears every task timer and aborts callbacks in flight, then stops the server. */
  override async stop(): Promise<void> {
    this.cancelPending();
    await this.whenIdle();
    const agent = this.agent;
    this.agent = undefined;
    if (agent) await agent.destroy();
    await super.stop();
  }

  // ---------------------------------------------------------------------------------------------------------
  // Auth, rate limit, quota
  // ---------------------------------------------------------------------------------------------------------

  private authed(handler: AuthedHandler): RouteHandler {
    return async (req) => {
      const header = req.headers.authorization ?? '';
      const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
      const user = m ? this.tokens.get(m[1] as string) : undefined;
      if (!user) {
        req.raw.resume();
        req.note({ auth: m ? 'unknown-token' : 'missing' });
        return fail(
          UNAUTHENTICATED.status,
          UNAUTHENTICATED.message,
          [m ? 'The bearer token is invalid.' : 'An Authorization: Bearer token is required.'],
          { 'www-authenticate': 'Bearer' },
        );
      }
      req.note({ user });
      const limited = this.rateLimit(user);
      if (limited) {
        req.raw.resume();
        req.note({ rateLimited: true });
        return limited;
      }
      return handler(req, user);
    };
  }

  private rateLimit(user: string): SimResponse | undefined {
    if (!Number.isFinite(this.requestsPerMinute)) return undefined;
    const now = this.now();
    let w = this.rateByUser.get(user);
    if (!w || now - w.start >= this.rateWindowMs) {
      w = { start: now, count: 0 };
      this.rateByUser.set(user, w);
    }
    w.count += 1;
    if (w.count <= this.requestsPerMinute) return undefined;
    const retryAfter = Math.max(1, Math.ceil((w.start + this.rateWindowMs - now) / 1000));
    return fail(
      RATE_LIMIT.status,
      RATE_LIMIT.message,
      [`Rate limit of ${this.requestsPerMinute} requests per minute exceeded.`],
      {
        'retry-after': String(retryAfter),
        'x-ratelimit-limit': String(this.requestsPerMinute),
        'x-ratelimit-remaining': '0',
      },
    );
  }

  private quotaFor(user: string): QuotaUsage {
    const period = new Date(this.now()).toISOString().slice(0, 7);
    let usage = this.quotaByUser.get(user);
    if (!usage || usage.period !== period) {
      usage = { period, used: { bgReplace: 0, lpa: 0 } };
      this.quotaByUser.set(user, usage);
    }
    return usage;
  }

  private quotaExceeded(user: string, type: TaskType): SimResponse | undefined {
    const usage = this.quotaFor(user);
    const limit = this.quotaLimits[type];
    if (usage.used[type] < limit) return undefined;
    const now = new Date(this.now());
    const nextPeriod = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1);
    return fail(
      QUOTA.status,
      QUOTA.message,
      [`The monthly quota of ${limit} ${TASK_TYPE_LABELS[type]} tasks has been used.`],
      { 'retry-after': String(Math.max(1, Math.ceil((nextPeriod - now.getTime()) / 1000))) },
    );
  }

  // ---------------------------------------------------------------------------------------------------------
  // Routes
  // ---------------------------------------------------------------------------------------------------------

  private async upload(req: SimRequest, user: string): Promise<SimResponse> {
    const kind = req.params.kind as ImageKind;
    const invalid = (messages: string[]): SimResponse => {
      req.note({ rejected: messages });
      return fail(VALIDATION.status, VALIDATION.message, messages);
    };
    if (!IMAGE_KINDS.includes(kind)) {
      req.raw.resume();
      return invalid([`The selected image type is invalid (use ${IMAGE_KINDS.join(', ')}).`]);
    }
    if (!isMultipart(req)) {
      req.raw.resume();
      return invalid(['The image field is required.', 'The request must be multipart/form-data.']);
    }
    let parts: MultipartResult;
    try {
      parts = await parseMultipart(req, {
        maxFileBytes: this.maxUploadBytes + 1,
        keepBytes: this.maxUploadBytes,
        headBytes: 16,
        maxParts: 20,
      });
    } catch {
      return invalid(['The image failed to upload.']);
    }
    const file = parts.files.find((f) => f.field === 'image');
    if (!file) {
      const asField = parts.fields.some((f) => f.name === 'image');
      return invalid([asField ? 'The image must be a file.' : 'The image field is required.']);
    }
    const messages: string[] = [];
    const sniffed = sniffImageType(file.head);
    const declared = file.contentType.toLowerCase().split(';')[0]?.trim() ?? '';
    const declaredType = DECLARED_JPEG_TYPES.includes(declared)
      ? 'image/jpeg'
      : DECLARED_PNG_TYPES.includes(declared)
        ? 'image/png'
        : GENERIC_DECLARED_TYPES.includes(declared)
          ? 'generic'
          : 'other';
    if (!sniffed || declaredType === 'other') {
      messages.push('The image must be a file of type: jpeg, png.');
    } else if (declaredType !== 'generic' && declaredType !== sniffed) {
      messages.push(`The image content (${sniffed}) does not match its declared type (${declared}).`);
    }
    const tooBig = file.truncated || file.size > this.maxUploadBytes || !file.bytes;
    if (tooBig) {
      messages.push(
        `The image must not be greater than ${Math.floor(this.maxUploadBytes / 1024)} kilobytes.`,
      );
    }
    const dims = sniffed && file.bytes && !tooBig ? imageDimensions(file.bytes, sniffed) : undefined;
    if (messages.length === 0 && !dims) messages.push('The image could not be read (corrupt or truncated).');
    if (messages.length > 0 || !sniffed || !dims || !file.bytes) {
      req.note({ declared, sniffed: sniffed ?? null, size: file.size });
      return invalid(messages);
    }

    const key = this.freshId((id) => this.uploadsByKey.has(id));
    const stored: StoredUpload = {
      key,
      user,
      kind,
      type: sniffed,
      declaredType: declared,
      filename: file.filename,
      size: file.size,
      width: dims.width,
      height: dims.height,
      sha256: file.sha256,
      uploadedAt: new Date(this.now()).toISOString(),
      bytes: file.bytes,
    };
    this.uploadsByKey.set(key, stored);
    req.note({ imagekey: key, kind, type: sniffed, size: file.size });
    return ok({ imagekey: key });
  }

  private async createTask(req: SimRequest, user: string, type: TaskType): Promise<SimResponse> {
    const raw = await req.body(MAX_JSON_BYTES);
    const exceeded = this.quotaExceeded(user, type);
    if (exceeded) {
      req.note({ quotaExhausted: type });
      return exceeded;
    }
    const parsed = parseJsonObject(req.headers['content-type'], raw);
    if (!parsed.ok) {
      req.note({ rejected: parsed.messages });
      return fail(VALIDATION.status, VALIDATION.message, parsed.messages);
    }
    const checked = validateTaskRequest(
      type,
      parsed.value,
      (key) => {
        const u = this.uploadsByKey.get(key);
        return u && u.user === user ? u : undefined;
      },
      (reference) => this.listTasks().some((t) => t.user === user && t.reference === reference),
    );
    if (!checked.ok) {
      req.note({ rejected: checked.messages });
      return fail(VALIDATION.status, VALIDATION.message, checked.messages);
    }
    const task = this.newTask(user, type, checked.value);
    this.quotaFor(user).used[type] += 1;
    req.note({ task: task.task, reference: task.reference, plan: task.plan });
    return ok({ task: task.task }, TASK_CREATED_STATUS);
  }

  private async status(req: SimRequest, user: string): Promise<SimResponse> {
    req.raw.resume();
    this.tick();
    const task = this.taskById.get(req.params.task ?? '');
    if (!task || task.user !== user) {
      req.note({ found: false });
      return fail(TASK_NOT_FOUND.status, TASK_NOT_FOUND.message, ['The selected task is invalid.']);
    }
    req.note({ task: task.task, status: task.status });
    return { status: 200, body: this.taskEnvelope(task) };
  }

  private result(req: SimRequest): SimResponse {
    req.raw.resume();
    const m = /^([A-Za-z0-9]+)\.(jpg|png)$/.exec(req.params.file ?? '');
    const task = m ? this.taskById.get(m[1] as string) : undefined;
    if (!m || !task || task.status !== 'complete' || !task.result || task.result.ext !== m[2]) {
      return fail(404, 'Not Found.', ['No such result.']);
    }
    const expires = req.url.searchParams.get('expires') ?? '';
    const signature = req.url.searchParams.get('signature') ?? '';
    const expected = this.sign(`${task.task}.${task.result.ext}`, expires);
    const given = Buffer.from(signature);
    const valid = given.length === expected.length && timingSafeEqual(given, Buffer.from(expected));
    if (!valid) return fail(403, 'Forbidden.', ['The URL signature is invalid.']);
    if (Number(expires) * 1000 <= this.now()) return fail(403, 'Forbidden.', ['The URL has expired.']);
    req.note({ task: task.task, size: task.result.size });
    return {
      status: 200,
      headers: { 'content-type': task.result.type, etag: `"${task.result.sha256}"` },
      body: task.result.bytes,
    };
  }

  // ---------------------------------------------------------------------------------------------------------
  // Task lifecycle
  // ---------------------------------------------------------------------------------------------------------

  private newTask(user: string, type: TaskType, request: TaskRequest): TaskRecord {
    const id = this.freshId((candidate) => this.taskById.has(candidate));
    const created = this.now();
    // Always draw the same number of values per task, so the outcomes depend on the seed and the task's
    // position only, not on the options.
    const failRoll = this.outcomeRng.next();
    const lostRoll = this.outcomeRng.next();
    const duplicateRoll = this.outcomeRng.next();
    const delayRoll = this.outcomeRng.next();
    const delay = this.callbackOptions.delayMs;
    const delayMs = Array.isArray(delay)
      ? delay[0] + Math.floor(delayRoll * (delay[1] - delay[0] + 1))
      : delay;
    const forced = isPlainObject(request.meta) ? request.meta[FORCED_FAILURE_META_KEY] : undefined;
    let failReason: string | false = false;
    if (forced === true) failReason = DEFAULT_FAILURE_REASONS[type];
    else if (typeof forced === 'string' && forced !== '') failReason = forced;
    else if (failRoll < this.failureRate) failReason = DEFAULT_FAILURE_REASONS[type];
    const task: TaskRecord = {
      task: id,
      user,
      type,
      reference: request.reference,
      original: request.original,
      background: request.background,
      overlay: request.overlay,
      options: request.options,
      meta: request.meta,
      callbackUrl: request.callbackUrl,
      status: 'new',
      history: [{ status: 'new', at: new Date(created).toISOString() }],
      createdAt: created,
      processingAt: created + this.processingAfterMs,
      terminalAt: created + this.completeAfterMs,
      plan: {
        fail: failReason,
        callback: {
          lost: lostRoll < this.callbackOptions.lossRate,
          duplicate: duplicateRoll < this.callbackOptions.duplicateRate,
          delayMs,
        },
      },
      callbacks: [],
    };
    this.taskById.set(id, task);
    if (this.clockMode === 'real') {
      this.tickAt(task.processingAt);
      this.tickAt(task.terminalAt);
    }
    return task;
  }

  /**
   * Applies due transitions at `at` (simulator clock). Node timers may fire a millisecond before Date.now()
   * reaches their time; then the tick would find nothing due and the task would wait for the next status
   * query, so an early timer is armed again for the rest.
   */
  private tickAt(at: number): void {
    this.schedule(Math.max(0, at - this.now()), () => {
      if (this.now() < at) this.tickAt(at);
      else this.tick();
    });
  }

  private schedule(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      try {
        fn();
      } catch (err) {
        this.internalErrors.push(String(err));
      }
    }, ms);
    timer.unref();
    this.timers.add(timer);
  }

  /** Applies every transition that is due (or all of them when `force`). */
  private tick(force = false): void {
    const now = this.now();
    for (const task of this.taskById.values()) {
      if (TERMINAL_STATUSES.includes(task.status)) continue;
      if (task.status === 'new' && (force || now >= task.processingAt)) this.setStatus(task, 'processing');
      if (task.status === 'processing' && (force || now >= task.terminalAt)) this.finish(task);
    }
  }

  private setStatus(task: TaskRecord, status: TaskStatus): void {
    task.status = status;
    task.history.push({ status, at: new Date(this.now()).toISOString() });
    this.emit('taskStatus', { task: task.task, status });
  }

  private finish(task: TaskRecord): void {
    if (task.plan.fail !== false) {
      task.failure = task.plan.fail;
      this.setStatus(task, 'failed');
    } else {
      try {
        task.result = this.process(task);
        this.setStatus(task, 'complete');
      } catch (err) {
        task.failure = `The image could not be processed: ${err instanceof Error ? err.message : String(err)}`;
        this.setStatus(task, 'failed');
      }
    }
    this.sendCallback(task);
  }

  private process(task: TaskRecord): TaskResult {
    const original = this.uploadsByKey.get(task.original);
    if (!original) throw new Error('the original image is gone');
    const input = decodeImage(original.bytes, original.type);
    let output: ReturnType<typeof decodeImage>;
    if (task.type === 'bgReplace') {
      const bgUpload = task.background ? this.uploadsByKey.get(task.background) : undefined;
      if (!bgUpload) throw new Error('the background image is gone');
      const ovUpload = task.overlay ? this.uploadsByKey.get(task.overlay) : undefined;
      if (task.overlay && !ovUpload) throw new Error('the overlay image is gone');
      const shadow = isPlainObject(task.options) && task.options.shadow === true;
      output = replaceBackground(
        input,
        decodeImage(bgUpload.bytes, bgUpload.type),
        ovUpload ? decodeImage(ovUpload.bytes, ovUpload.type) : undefined,
        { shadow },
      );
    } else {
      output = pixelate(input, lpaRect(input.width, input.height));
    }
    const bytes = encodeImage(output, original.type, this.jpegQuality);
    return {
      type: original.type,
      ext: extensionOf(original.type),
      width: output.width,
      height: output.height,
      size: bytes.length,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      bytes,
      expires: Math.floor((this.now() + this.resultUrlTtlMs) / 1000),
    };
  }

  private resultUrl(task: TaskRecord): string {
    const result = task.result as TaskResult;
    const file = `${task.task}.${result.ext}`;
    const expires = String(result.expires);
    return `${this.publicUrl}${RESULT_PATH_PREFIX}/${file}?expires=${expires}&signature=${this.sign(file, expires)}`;
  }

  private sign(file: string, expires: string): string {
    return createHmac('sha256', this.signingKey).update(`${file}:${expires}`).digest('hex');
  }

  private sendCallback(task: TaskRecord): void {
    const url = task.callbackUrl;
    if (!url) return;
    const envelope = this.taskEnvelope(task);
    task.callbackBody = envelope;
    if (!isLoopbackUrl(url)) {
      task.callbackSkipped = 'non-loopback';
      return;
    }
    if (task.plan.callback.lost) {
      task.callbackSkipped = 'lost';
      return;
    }
    const body = JSON.stringify(envelope);
    const signal = this.abort.signal;
    const { delayMs, duplicate } = task.plan.callback;
    const agent = this.dispatcher();
    const run = async (): Promise<void> => {
      const copies = duplicate ? 2 : 1;
      for (let attempt = 1; attempt <= copies; attempt++) {
        const due = await wait(delayMs, signal);
        const record: CallbackAttempt = {
          url,
          attempt,
          duplicate: attempt > 1,
          at: new Date(this.now()).toISOString(),
        };
        if (!due) {
          record.error = 'aborted: simulator stopped or reset before sending';
          task.callbacks.push(record);
          return;
        }
        task.callbacks.push(
          await postCallback(agent, url, body, this.callbackOptions.timeoutMs, signal, record),
        );
      }
    };
    const p = run()
      .catch((err: unknown) => {
        this.internalErrors.push(String(err));
      })
      .finally(() => {
        this.inflight.delete(p);
      });
    this.inflight.add(p);
  }

  private dispatcher(): Agent {
    if (!this.agent) {
      const timeout = this.callbackOptions.timeoutMs;
      this.agent = new Agent({ connect: { timeout }, keepAliveTimeout: 1_000, keepAliveMaxTimeout: 1_000 });
    }
    return this.agent;
  }

  private cancelPending(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.abort.abort();
    this.abort = new AbortController();
  }

  private freshId(taken: (id: string) => boolean): string {
    let id = this.rng.id(10);
    while (taken(id)) id = this.rng.id(10);
    return id;
  }

  private snapshot(): unknown {
    const users = new Map<string, number>();
    for (const user of this.tokens.values()) users.set(user, (users.get(user) ?? 0) + 1);
    return {
      clock: { mode: this.clockMode, now: new Date(this.now()).toISOString(), advancedMs: this.offset },
      users: [...users].map(([user, tokens]) => ({ user, tokens })),
      tokenFingerprints: [...this.tokens.keys()].map((t) => fingerprint(t)),
      uploads: this.listUploads().map(({ bytes: _bytes, ...rest }) => rest),
      tasks: this.listTasks().map(({ result, ...rest }) => ({
        ...rest,
        result: result
          ? {
              url: this.resultUrl({ ...rest, result }),
              type: result.type,
              width: result.width,
              height: result.height,
              size: result.size,
              sha256: result.sha256,
            }
          : null,
      })),
      quota: Object.fromEntries(
        [...this.quotaByUser].map(([user, usage]) => [
          user,
          { period: usage.period, used: usage.used, limit: this.quotaLimits },
        ]),
      ),
      rate: Object.fromEntries(
        [...this.rateByUser].map(([user, w]) => [
          user,
          { windowStart: new Date(w.start).toISOString(), count: w.count, limit: this.requestsPerMinute },
        ]),
      ),
      internalErrors: this.internalErrors,
    };
  }
}
