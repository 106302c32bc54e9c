import { inflateSync } from 'node:zlib';
import {
  isMultipart,
  KeyedBuckets,
  MultipartError,
  parseMultipart,
  type SimRequest,
  type SimResponse,
  Simulator,
} from '../framework/index.ts';
import {
  BLOCKED_SLOTS_CARRY_UPLOAD_ID,
  CONFIRM_BEFORE_UPLOAD_STATUS,
  DATASET_PROGRESS,
  DEFAULT_MAX_REQUEST_BYTES,
  DEFAULT_MAX_UPLOAD_BYTES,
  DEFAULT_REQUIRE_CONTENT_LENGTH,
  DEFAULT_S3_IDLE_TIMEOUT_MS,
  DEFAULT_SIGNED_URL_TTL_MS,
  errorBody,
  FOREIGN_TEAM_STATUS,
  MAX_ITEMS_PER_REQUEST,
  MSG,
  READONLY_STORAGE_REJECTS_READWRITE_REGISTRATION,
  S3_BUCKET,
  SIGN_AFTER_CONFIRM_STATUS,
  V1_UNKNOWN_TAG_REASON,
  V2_UNKNOWN_TAGS_REASON,
} from './assumptions.ts';
import {
  amzCredential,
  amzDate,
  drain,
  hashBody,
  hmacHex,
  postFormCreated,
  requestTimeout,
  s3Error,
  sameHex,
} from './s3.ts';
import { DarwinStore, type RegisterOutcome, refreshStatus } from './store.ts';
import { Traffic, type V7Stats } from './traffic.ts';
import type { V7DarwinOptions, V7Item, V7Slot } from './types.ts';
import {
  itemCount,
  type NormSlot,
  type Validated,
  validateRegisterExisting,
  validateRegisterReadonly,
  validateRegisterUpload,
  validateV1Register,
} from './validate.ts';

/** What an authenticated /api handler receives. */
interface ApiContext {
  req: SimRequest;
  /** The team of the API key. */
  keyTeam: string;
  /** Parsed JSON body (undefined for GET). */
  body: unknown;
}

interface ApiRouteOptions {
  /** Path parameter that names the team (checked against the key's team). */
  teamParam?: string;
  /** Read and parse a JSON body. */
  json?: boolean;
}

interface SignedUrl {
  uploadId: string;
  expiresAt: number;
  signature: string;
}

/** Routes whose answer can be lost after the step took effect (`loseAnswers`). */
export type StepRoute =
  | 'registerUpload'
  | 'registerExisting'
  | 'registerExistingReadonly'
  | 'signUpload'
  | 's3Put'
  | 'confirmUpload';

interface LostAnswer {
  route: string;
  remaining: number;
  /** Answer this status instead of the real one; undefined: drop the connection. */
  status?: number;
}

interface FormGrant {
  uploadId: string;
  expiresAt: number;
  policy: string;
  signature: string;
}

const V1_FORM_FIELDS = [
  'X-amz-algorithm',
  'X-amz-credential',
  'X-amz-date',
  'X-amz-signature',
  'acl',
  'key',
  'policy',
  'success_action_status',
] as const;

/**
 * V7 Darwin import API: v2 register_upload → sign → PUT (presigned, S3-like) → confirm; external storage
 * registration (read-write and read-only); the legacy v1 flow (POST form or PUT) behind `legacyV1`.
 */
export class V7DarwinSimulator extends Simulator {
  readonly options: V7DarwinOptions;
  private readonly store: DarwinStore;
  private readonly signed = new Map<string, SignedUrl>();
  private readonly forms = new Map<string, FormGrant>();
  private readonly buckets: KeyedBuckets | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly secret: string;
  private readonly clock: () => number;
  private readonly apiKeys: Map<string, string>;
  private readonly traffic: Traffic;
  private lostAnswers: LostAnswer[] = [];

  constructor(options: V7DarwinOptions) {
    super('v7-darwin', options);
    this.options = options;
    this.clock = options.clock ?? Date.now;
    this.store = new DarwinStore(options.teams);
    this.secret = this.rng.id(40);
    this.apiKeys = new Map(Object.entries(options.apiKeys).map(([key, { team }]) => [key, team]));
    const rl = options.rateLimit;
    this.buckets = rl ? new KeyedBuckets(rl.perMinute, rl.perMinute / 60, this.clock) : undefined;
    this.traffic = new Traffic(
      (token) => this.signed.get(token)?.uploadId,
      (id) => this.store.byLegacyId(id)?.slots[0]?.upload_id,
    );
    this.on('answered', (record) => this.traffic.answered(record));

    // Lookups darwin-py makes before any upload (login, dataset, External Storage).
    this.api('GET', '/api/users/token_info', 'tokenInfo', (c) => ({
      status: 200,
      body: { selected_team: { slug: c.keyTeam } },
    }));
    this.api('GET', '/api/datasets', 'listDatasets', (c) => this.listDatasets(c.keyTeam));
    this.api(
      'GET',
      '/api/teams/:team/storage',
      'listStorage',
      (c) => ({ status: 200, body: this.store.storages(c.keyTeam) }),
      { teamParam: 'team' },
    );

    this.api(
      'POST',
      '/api/v2/teams/:team/items/register_upload',
      'registerUpload',
      (c) => this.registerUpload(c),
      {
        teamParam: 'team',
        json: true,
      },
    );
    this.api('GET', '/api/v2/teams/:team/items/uploads/:uploadId/sign', 'signUpload', (c) => this.signV2(c), {
      teamParam: 'team',
    });
    this.api(
      'POST',
      '/api/v2/teams/:team/items/uploads/:uploadId/confirm',
      'confirmUpload',
      (c) => this.confirmV2(c),
      {
        teamParam: 'team',
        json: true,
      },
    );
    this.api(
      'POST',
      '/api/v2/teams/:team/items/register_existing',
      'registerExisting',
      (c) => this.registerExternal(c, false),
      { teamParam: 'team', json: true },
    );
    this.api(
      'POST',
      '/api/v2/teams/:team/items/register_existing_readonly',
      'registerExistingReadonly',
      (c) => this.registerExternal(c, true),
      { teamParam: 'team', json: true },
    );
    this.route('PUT', '/s3-upload/:token', 's3Put', (req) => this.s3Put(req));

    if (options.legacyV1) {
      this.api(
        'PUT',
        '/api/teams/:team/datasets/:dataset/data',
        'v1RegisterData',
        (c) => this.v1Register(c),
        {
          teamParam: 'team',
          json: true,
        },
      );
      this.api('GET', '/api/dataset_items/:id/sign_upload', 'v1SignUpload', (c) => this.v1Sign(c));
      this.api('PUT', '/api/dataset_items/:id/confirm_upload', 'v1ConfirmUpload', (c) => this.v1Confirm(c), {
        json: true,
      });
      this.route('POST', '/s3-form', 's3PostForm', (req) => this.s3PostForm(req));
    }

    this.onState(() => this.snapshot());
    this.onReset(() => {
      this.store.reset();
      this.signed.clear();
      this.forms.clear();
      this.buckets?.clear();
      this.traffic.clear();
      this.lostAnswers = [];
      this.apiKeys.clear();
      for (const [key, { team }] of Object.entries(options.apiKeys)) this.apiKeys.set(key, team);
      this.clearTimers();
    });
  }

  /** Every route handler runs through `withLostAnswers` (see `loseAnswers`). */
  override route(
    method: string,
    pattern: string,
    name: string,
    handler: (req: SimRequest) => Promise<SimResponse> | SimResponse,
  ): this {
    return super.route(method, pattern, name, (req) => this.withLostAnswers(name, req, handler));
  }

  // ---------------------------------------------------------------- helpers for tests and the lead

  /** Items of a dataset in registration order (copies). */
  items(team: string, dataset: string): V7Item[] {
    return structuredClone(this.store.list(team, dataset));
  }

  item(id: string): V7Item | undefined {
    const item = this.store.get(id);
    return item ? structuredClone(item) : undefined;
  }

  /** A v1 item by its integer `dataset_item_id`. */
  itemByLegacyId(id: number): V7Item | undefined {
    const item = this.store.byLegacyId(id);
    return item ? structuredClone(item) : undefined;
  }

  /** The slot (and its item) that owns an `upload_id`. */
  upload(uploadId: string): { item: V7Item; slot: V7Slot } | undefined {
    const found = this.store.byUploadId(uploadId);
    return found ? structuredClone(found) : undefined;
  }

  /** Storage left for a team (undefined when unlimited). */
  remainingStorage(team: string): number | undefined {
    return this.store.remainingBytes(team);
  }

  /** Makes every upload URL and POST policy issued so far expired. */
  expireSignedUrls(): void {
    const past = this.clock() - 1;
    for (const s of this.signed.values()) s.expiresAt = past;
    for (const f of this.forms.values()) f.expiresAt = past;
  }

  /** Queues `times` S3 503 SlowDown answers on the presigned PUT (or the v1 POST form). */
  injectS3SlowDown(times = 1, route: 's3Put' | 's3PostForm' = 's3Put'): void {
    this.injectS3Error(503, 'SlowDown', 'Please reduce your request rate.', { times, route });
  }

  /** Queues `times` S3-shaped XML errors on the presigned PUT (or the v1 POST form); nothing is stored. */
  injectS3Error(
    status: number,
    code: string,
    message: string,
    opts: { times?: number; route?: 's3Put' | 's3PostForm' } = {},
  ): void {
    const err = s3Error(status, code, message, `sim-injected-${status}`);
    this.faults.enqueue({
      route: opts.route ?? 's3Put',
      status,
      times: opts.times ?? 1,
      body: err.body,
      headers: err.headers ?? {},
    });
  }

  /**
   * Queues `times` 429 RATE_LIMIT_EXCEEDED answers on an /api route, with `Retry-After: <retryAfterSeconds>`
   * when given and without the header otherwise. Decided before the route runs: nothing changes.
   */
  injectRateLimit(route: string, opts: { times?: number; retryAfterSeconds?: number } = {}): void {
    const headers: Record<string, string> =
      opts.retryAfterSeconds === undefined ? {} : { 'retry-after': String(opts.retryAfterSeconds) };
    this.faults.enqueue({
      route,
      status: 429,
      times: opts.times ?? 1,
      body: errorBody.rateLimited(),
      headers,
    });
  }

  /**
   * The next `times` successful (2xx) requests on `route` take effect, then their answer is lost: the
   * connection is dropped, or the client gets `status` instead (a proxy error after the backend committed).
   * A retried register then meets ALREADY_EXISTS, a retried confirm 200 again, a retried PUT replaces the bytes.
   */
  loseAnswers(route: StepRoute, opts: { times?: number; status?: number } = {}): void {
    const entry: LostAnswer = { route, remaining: opts.times ?? 1 };
    if (opts.status !== undefined) entry.status = opts.status;
    this.lostAnswers.push(entry);
  }

  /** Sets a team's storage left (undefined: unlimited), e.g. to exhaust it in the middle of a run. */
  setRemainingStorage(team: string, bytes: number | undefined): void {
    this.store.setRemaining(team, bytes);
  }

  /** Revokes an API key: every later request with it answers 401. `reset()` restores the configured keys. */
  revokeApiKey(key: string): void {
    this.apiKeys.delete(key);
  }

  /** What V7 received, per route and per item/slot: register calls, signs, PUTs and their bytes, confirms. */
  stats(): V7Stats {
    return this.traffic.stats(this.store.all());
  }

  override async stop(): Promise<void> {
    this.clearTimers();
    await super.stop();
  }

  private clearTimers(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private snapshot(): unknown {
    const teams: Record<string, unknown> = {};
    for (const [slug, cfg] of Object.entries(this.options.teams)) {
      const datasets: Record<string, V7Item[]> = {};
      for (const ds of cfg.datasets) datasets[ds] = this.store.list(slug, ds);
      teams[slug] = { remainingStorageBytes: this.store.remainingBytes(slug) ?? null, datasets };
    }
    return { teams, signedUrls: this.signed.size, formGrants: this.forms.size, stats: this.stats() };
  }

  private async withLostAnswers(
    name: string,
    req: SimRequest,
    handler: (req: SimRequest) => Promise<SimResponse> | SimResponse,
  ): Promise<SimResponse> {
    const response = await handler(req);
    const i = this.lostAnswers.findIndex((l) => l.route === name);
    const lost = this.lostAnswers[i];
    if (!lost || response.status < 200 || response.status > 299) return response;
    lost.remaining -= 1;
    if (lost.remaining <= 0) this.lostAnswers.splice(i, 1);
    req.note({ lostAnswer: lost.status ?? 'connection dropped', realStatus: response.status });
    if (lost.status === undefined) {
      req.raw.socket.destroy();
      return response;
    }
    return name === 's3Put'
      ? s3Error(
          lost.status,
          'InternalError',
          'We encountered an internal error. Please try again.',
          'sim-lost',
        )
      : { status: lost.status, body: { error: `injected ${lost.status} after the step took effect` } };
  }

  private listDatasets(team: string): SimResponse {
    const datasets = this.store.team(team)?.datasets ?? [];
    return {
      status: 200,
      body: datasets.map((slug) => ({
        id: this.store.datasetId(team, slug),
        name: slug,
        slug,
        num_items: this.store.list(team, slug).length,
        progress: DATASET_PROGRESS,
      })),
    };
  }

  private requestId(): string {
    return this.rng.id(16, '0123456789ABCDEF');
  }

  // ---------------------------------------------------------------- the /api wrapper

  /** Registers an /api route: auth → rate limit → team → body size (413) → JSON (422) → handler. */
  private api(
    method: string,
    pattern: string,
    name: string,
    handler: (ctx: ApiContext) => Promise<SimResponse> | SimResponse,
    opts: ApiRouteOptions = {},
  ): void {
    this.route(method, pattern, name, async (req) => {
      const keyTeam = this.authenticate(req);
      if (keyTeam === undefined) {
        await drain(req.raw);
        req.note({ auth: 'rejected' });
        return { status: 401, body: errorBody.notAuthenticated() };
      }
      const limited = this.rateLimit(req, name);
      if (limited) {
        await drain(req.raw);
        return limited;
      }
      if (opts.teamParam) {
        const team = req.params[opts.teamParam] ?? '';
        if (!this.store.team(team)) {
          await drain(req.raw);
          return { status: 404, body: errorBody.notFound('team') };
        }
        if (team !== keyTeam) {
          await drain(req.raw);
          req.note({ foreignTeam: team });
          return FOREIGN_TEAM_STATUS === 401
            ? { status: 401, body: errorBody.notAuthenticated() }
            : { status: 404, body: errorBody.notFound('team') };
        }
      }
      let body: unknown;
      if (opts.json) {
        const parsed = await this.readJson(req);
        if ('error' in parsed) return parsed.error;
        body = parsed.value;
      } else {
        await drain(req.raw);
      }
      return handler({ req, keyTeam, body });
    });
  }

  /** `Authorization: ApiKey <key>` (literal word ApiKey). Answers the key's team, or undefined. */
  private authenticate(req: SimRequest): string | undefined {
    const header = req.headers.authorization;
    const m = typeof header === 'string' ? /^ApiKey (\S+)$/.exec(header.trim()) : null;
    const key = m?.[1];
    return key ? this.apiKeys.get(key) : undefined;
  }

  private rateLimit(req: SimRequest, route: string): SimResponse | undefined {
    const rl = this.options.rateLimit;
    if (!rl || !this.buckets) return undefined;
    if (rl.routes && !rl.routes.includes(route)) return undefined;
    const key = (req.headers.authorization ?? '').toString();
    const bucket = this.buckets.for(key);
    if (bucket.take()) return undefined;
    const headers: Record<string, string> = {};
    const wait = Math.max(1, Math.ceil(bucket.secondsUntilToken()));
    if (rl.retryAfter !== false) headers['retry-after'] = String(wait);
    req.note({ rateLimited: true, retryAfter: rl.retryAfter !== false ? wait : null });
    return { status: 429, headers, body: errorBody.rateLimited() };
  }

  private async readJson(req: SimRequest): Promise<{ value: unknown } | { error: SimResponse }> {
    const limit = this.options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
    const tooLarge = { error: { status: 413, body: errorBody.payloadTooLarge(limit) } };
    let raw = await req.body(limit);
    if (raw === undefined) {
      req.note({ payloadTooLarge: true });
      return tooLarge;
    }
    if (req.headers['x-darwin-payload-compression-version'] === '1') {
      try {
        raw = inflateSync(raw, { maxOutputLength: limit });
      } catch (err) {
        if (err instanceof RangeError) return tooLarge;
        return { error: { status: 422, body: errorBody.invalid({ body: ['is not valid zlib data'] }) } };
      }
      req.note({ compressed: true });
    }
    const text = raw.toString('utf8');
    if (text.trim() === '') return { value: {} };
    try {
      return { value: JSON.parse(text) as unknown };
    } catch {
      return { error: { status: 422, body: errorBody.invalid({ body: ['is not valid JSON'] }) } };
    }
  }

  // ---------------------------------------------------------------- v2 registration

  private async registerUpload(c: ApiContext): Promise<SimResponse> {
    const team = c.keyTeam;
    const tooMany = this.checkItemCount(c.body);
    if (tooMany) return tooMany;
    const v = validateRegisterUpload(c.body);
    if (!v.ok) return this.invalid(c.req, v);
    const { dataset_slug, items } = v.value;
    if (!this.store.hasDataset(team, dataset_slug))
      return { status: 404, body: errorBody.notFound('dataset') };

    const left = this.store.remainingBytes(team);
    if (left !== undefined) {
      const declared = items.reduce((n, i) => n + i.slots.reduce((m, s) => m + (s.declared_size ?? 0), 0), 0);
      if (left <= 0 || declared > left) {
        c.req.note({ insufficientStorage: { left, declared } });
        return { status: 429, body: errorBody.insufficientStorage() };
      }
    }
    const outcomes = this.store.register(team, dataset_slug, items, {
      source: 'upload',
      unknownTagReason: V2_UNKNOWN_TAGS_REASON,
      checkTagText: false,
      newId: () => this.rng.uuid(),
    });
    this.traffic.registered(team, dataset_slug, outcomes);
    return this.v2Answer(c.req, outcomes, true);
  }

  private async registerExternal(c: ApiContext, readonly: boolean): Promise<SimResponse> {
    const team = c.keyTeam;
    const tooMany = this.checkItemCount(c.body);
    if (tooMany) return tooMany;
    const v = readonly ? validateRegisterReadonly(c.body) : validateRegisterExisting(c.body);
    if (!v.ok) return this.invalid(c.req, v);
    const { dataset_slug, storage_slug, items } = v.value;
    if (!this.store.hasDataset(team, dataset_slug))
      return { status: 404, body: errorBody.notFound('dataset') };
    const storage = storage_slug ? this.store.storage(team, storage_slug) : undefined;
    if (!storage) return { status: 404, body: errorBody.notFound('storage') };
    if (storage.readonly && !readonly && READONLY_STORAGE_REJECTS_READWRITE_REGISTRATION) {
      c.req.note({ readonlyStorage: storage.name });
      return { status: 422, body: errorBody.invalid({ storage_slug: [MSG.readonlyStorage] }) };
    }
    const outcomes = this.store.register(team, dataset_slug, items, {
      source: readonly ? 'external_readonly' : 'external',
      storage_slug,
      unknownTagReason: V2_UNKNOWN_TAGS_REASON,
      checkTagText: false,
      newId: () => this.rng.uuid(),
    });
    for (const o of outcomes) if (o.created) this.scheduleProcessing(o.created);
    this.traffic.registered(team, dataset_slug, outcomes);
    return this.v2Answer(c.req, outcomes, false);
  }

  private checkItemCount(body: unknown): SimResponse | undefined {
    const max = this.options.maxItemsPerRequest ?? MAX_ITEMS_PER_REQUEST;
    const n = itemCount(body);
    return n > max ? { status: 422, body: errorBody.tooManyItems(n, max) } : undefined;
  }

  private invalid(req: SimRequest, v: Validated<unknown> & { ok: false }): SimResponse {
    req.note({ validation: v.errors });
    return { status: 422, body: errorBody.invalid(v.errors) };
  }

  private v2Answer(req: SimRequest, outcomes: RegisterOutcome[], uploads: boolean): SimResponse {
    const slotOut = (s: V7Slot | NormSlot, uploadId?: string) => {
      const o: Record<string, unknown> = {
        type: s.type,
        file_name: s.file_name,
        slot_name: s.slot_name,
      };
      if (uploadId !== undefined) o.upload_id = uploadId;
      if (s.storage_key !== undefined) o.storage_key = s.storage_key;
      o.as_frames = s.as_frames;
      o.extract_views = s.extract_views;
      return o;
    };
    const items = outcomes
      .filter((o) => o.created)
      .map(({ created }) => {
        const it = created as V7Item;
        return {
          id: it.id,
          name: it.name,
          path: it.path,
          slots: it.slots.map((s) => slotOut(s, s.upload_id)),
        };
      });
    const blocked_items = outcomes
      .filter((o) => o.blocked)
      .map(({ norm, blocked }) => ({
        id: blocked?.id,
        name: norm.name,
        path: norm.path,
        slots: norm.slots.map((s) => ({
          ...slotOut(s, uploads && BLOCKED_SLOTS_CARRY_UPLOAD_ID ? this.rng.uuid() : undefined),
          reason: blocked?.reason,
        })),
      }));
    req.note({ registered: items.length, blocked: blocked_items.map((b) => b.slots[0]?.reason) });
    return { status: 200, body: { items, blocked_items } };
  }

  // ---------------------------------------------------------------- v2 sign / confirm

  private signV2(c: ApiContext): SimResponse {
    const uploadId = c.req.params.uploadId ?? '';
    const found = this.store.byUploadId(uploadId);
    if (!found || found.item.team !== c.keyTeam) return { status: 404, body: errorBody.notFound('upload') };
    if (found.slot.status === 'processing' || found.slot.status === 'complete') {
      return { status: SIGN_AFTER_CONFIRM_STATUS, body: errorBody.alreadyConfirmed() };
    }
    return { status: 200, body: { upload_url: this.presign(uploadId) } };
  }

  /** A presigned-looking URL on this simulator, valid for `signedUrlTtlMs`. */
  private presign(uploadId: string): string {
    const now = this.clock();
    const ttl = this.options.signedUrlTtlMs ?? DEFAULT_SIGNED_URL_TTL_MS;
    const token = this.rng.id(32);
    const expiresAt = now + ttl;
    const signature = hmacHex(this.secret, `${token}\n${expiresAt}`);
    this.signed.set(token, { uploadId, expiresAt, signature });
    const q = new URLSearchParams({
      'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
      'X-Amz-Credential': amzCredential(now),
      'X-Amz-Date': amzDate(now),
      'X-Amz-Expires': String(Math.ceil(ttl / 1000)),
      'X-Amz-SignedHeaders': 'host',
      'X-Amz-Signature': signature,
    });
    return `${this.url}/s3-upload/${token}?${q.toString()}`;
  }

  private confirmV2(c: ApiContext): SimResponse {
    const uploadId = c.req.params.uploadId ?? '';
    const found = this.store.byUploadId(uploadId);
    if (!found || found.item.team !== c.keyTeam) return { status: 404, body: errorBody.notFound('upload') };
    return this.confirmSlot(c.req, found.item, found.slot, {});
  }

  private confirmSlot(req: SimRequest, item: V7Item, slot: V7Slot, okBody: unknown): SimResponse {
    if (slot.status === 'awaiting_upload') {
      req.note({ confirm: 'before-upload' });
      return { status: CONFIRM_BEFORE_UPLOAD_STATUS, body: errorBody.notUploaded() };
    }
    if (slot.status === 'processing' || slot.status === 'complete') {
      req.note({ confirm: 'again' });
      return { status: 200, body: okBody };
    }
    const left = this.store.remainingBytes(item.team);
    const size = slot.size ?? 0;
    if (left !== undefined && size > left) {
      req.note({ insufficientStorage: { left, size } });
      return { status: 429, body: errorBody.insufficientStorage() };
    }
    this.store.consumeStorage(item.team, size);
    slot.status = 'processing';
    refreshStatus(item);
    this.scheduleProcessing(item);
    req.note({ confirm: 'ok', item: item.id, slot: slot.slot_name });
    return { status: 200, body: okBody };
  }

  /** Moves every `processing` slot of the item to `complete`, now or after `processingDelayMs`. */
  private scheduleProcessing(item: V7Item): void {
    const finish = () => {
      for (const s of item.slots) if (s.status === 'processing') s.status = 'complete';
      refreshStatus(item);
    };
    const delay = this.options.processingDelayMs ?? 0;
    if (delay <= 0) {
      finish();
      return;
    }
    const t = setTimeout(() => {
      this.timers.delete(t);
      finish();
    }, delay);
    t.unref();
    this.timers.add(t);
  }

  // ---------------------------------------------------------------- S3: presigned PUT

  private async s3Put(req: SimRequest): Promise<SimResponse> {
    const rid = this.requestId();
    const token = req.params.token ?? '';
    const grant = this.signed.get(token);
    if (grant) req.note({ uploadId: grant.uploadId });
    const idleMs = this.options.s3IdleTimeoutMs ?? DEFAULT_S3_IDLE_TIMEOUT_MS;
    /** An early S3 error: the body is read (and counted) first, unless it stops arriving. */
    const refuse = async (status: number, code: string, message: string): Promise<SimResponse> => {
      const drained = await drain(req.raw, idleMs);
      req.note({ receivedBytes: drained.size });
      if (drained.timedOut) return this.timedOut(req);
      return s3Error(status, code, message, rid);
    };
    const sig = req.url.searchParams.get('X-Amz-Signature') ?? '';
    if (!grant) return refuse(403, 'AccessDenied', 'Access Denied');
    if (!sameHex(sig, grant.signature)) {
      return refuse(
        403,
        'SignatureDoesNotMatch',
        'The request signature we calculated does not match the signature you provided.',
      );
    }
    if (this.clock() > grant.expiresAt) {
      req.note({ expired: true });
      return refuse(403, 'AccessDenied', 'Request has expired');
    }
    const max = this.options.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES;
    const lengthHeader = req.headers['content-length'];
    if (lengthHeader === undefined && (this.options.requireContentLength ?? DEFAULT_REQUIRE_CONTENT_LENGTH)) {
      return refuse(411, 'MissingContentLength', 'You must provide the Content-Length HTTP header.');
    }
    if (lengthHeader !== undefined && Number(lengthHeader) > max) {
      return refuse(400, 'EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size');
    }
    const streamed = await hashBody(req.raw, max, idleMs);
    req.note({ receivedBytes: streamed.size });
    if (streamed.timedOut) return this.timedOut(req);
    if (streamed.tooLarge) {
      return s3Error(400, 'EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size', rid);
    }
    const found = this.store.byUploadId(grant.uploadId);
    if (!found) return s3Error(403, 'AccessDenied', 'Access Denied', rid);
    const contentType = req.headers['content-type'];
    this.receiveBytes(req, found.slot, streamed, typeof contentType === 'string' ? contentType : undefined);
    return {
      status: 200,
      headers: { etag: `"${streamed.md5}"`, 'x-amz-request-id': rid },
    };
  }

  /** The body stopped arriving for `s3IdleTimeoutMs`: S3's 400 RequestTimeout, nothing stored. */
  private timedOut(req: SimRequest): SimResponse {
    const declared = req.headers['content-length'];
    req.note({
      requestTimeout: true,
      declaredBytes: declared === undefined ? null : Number(declared),
      idleTimeoutMs: this.options.s3IdleTimeoutMs ?? DEFAULT_S3_IDLE_TIMEOUT_MS,
    });
    return requestTimeout(this.requestId());
  }

  private receiveBytes(
    req: SimRequest,
    slot: V7Slot,
    body: { size: number; sha256: string; md5: string },
    contentType: string | undefined,
  ): void {
    if (slot.status === 'processing' || slot.status === 'complete') {
      // S3 would store the object anyway; V7 already took the confirmed one, so we keep it.
      req.note({ upload: 'after-confirm-ignored', size: body.size });
      return;
    }
    slot.size = body.size;
    slot.sha256 = body.sha256;
    slot.md5 = body.md5;
    if (contentType !== undefined) slot.content_type = contentType;
    else delete slot.content_type;
    slot.upload_count += 1;
    slot.status = 'uploaded';
    req.note({ upload: 'stored', size: body.size, sha256: body.sha256 });
  }

  // ---------------------------------------------------------------- legacy v1

  private v1Register(c: ApiContext): SimResponse {
    const team = c.keyTeam;
    const dataset = c.req.params.dataset ?? '';
    if (!this.store.hasDataset(team, dataset)) return { status: 404, body: errorBody.notFound('dataset') };
    const tooMany = this.checkItemCount(c.body);
    if (tooMany) return tooMany;
    const v = validateV1Register(c.body);
    if (!v.ok) return this.invalid(c.req, v);
    const { storage_name, items } = v.value;
    if (storage_name !== undefined && !this.store.hasStorage(team, storage_name)) {
      return { status: 404, body: errorBody.notFound('storage') };
    }
    if (storage_name === undefined) {
      const left = this.store.remainingBytes(team);
      if (left !== undefined && left <= 0) return { status: 429, body: errorBody.insufficientStorage() };
    }
    const opts = {
      source: storage_name === undefined ? ('v1_upload' as const) : ('v1_external' as const),
      unknownTagReason: V1_UNKNOWN_TAG_REASON,
      checkTagText: true,
      newId: () => this.rng.uuid(),
    };
    const outcomes = this.store.register(
      team,
      dataset,
      items,
      storage_name === undefined ? opts : { ...opts, storage_slug: storage_name },
    );
    this.traffic.registered(team, dataset, outcomes);
    const out = outcomes
      .filter((o) => o.created)
      .map(({ created }) => {
        const it = created as V7Item;
        return { dataset_item_id: it.legacy_id, filename: it.name, path: it.path };
      });
    const blocked = outcomes
      .filter((o) => o.blocked)
      .map(({ norm, blocked: b }) => ({
        dataset_item_id: b?.legacy_id,
        filename: norm.name,
        path: norm.path,
        reason: b?.reason,
      }));
    c.req.note({ registered: out.length, blocked: blocked.map((b) => b.reason) });
    return { status: 200, body: { items: out, blocked_items: blocked } };
  }

  private v1Item(c: ApiContext): { item: V7Item; slot: V7Slot } | undefined {
    const id = Number(c.req.params.id);
    const item = Number.isInteger(id) ? this.store.byLegacyId(id) : undefined;
    const slot = item?.slots[0];
    if (!item || !slot?.upload_id || item.team !== c.keyTeam) return undefined;
    return { item, slot };
  }

  private v1Sign(c: ApiContext): SimResponse {
    const found = this.v1Item(c);
    if (!found) return { status: 404, body: errorBody.notFound('dataset item') };
    const { item, slot } = found;
    if (slot.status === 'processing' || slot.status === 'complete') {
      return { status: SIGN_AFTER_CONFIRM_STATUS, body: errorBody.alreadyConfirmed() };
    }
    const uploadId = slot.upload_id as string;
    if ((this.options.legacyV1Mode ?? 'post-form') === 'put') {
      return { status: 200, body: { upload_url: this.presign(uploadId) } };
    }
    const now = this.clock();
    const expiresAt = now + (this.options.signedUrlTtlMs ?? DEFAULT_SIGNED_URL_TTL_MS);
    const key = `${item.team}/${item.id}/${slot.file_name}`;
    const credential = amzCredential(now);
    const date = amzDate(now);
    const policy = Buffer.from(
      JSON.stringify({
        expiration: new Date(expiresAt).toISOString(),
        conditions: [
          { bucket: S3_BUCKET },
          { key },
          { acl: 'private' },
          { success_action_status: '201' },
          { 'x-amz-algorithm': 'AWS4-HMAC-SHA256' },
          { 'x-amz-credential': credential },
          { 'x-amz-date': date },
        ],
      }),
    ).toString('base64');
    const signature = hmacHex(this.secret, policy);
    this.forms.set(key, { uploadId, expiresAt, policy, signature });
    return {
      status: 200,
      body: {
        postEndpoint: `${this.url.replace(/^https?:/, '')}/s3-form`,
        signature: {
          'X-amz-algorithm': 'AWS4-HMAC-SHA256',
          'X-amz-credential': credential,
          'X-amz-date': date,
          'X-amz-signature': signature,
          acl: 'private',
          key,
          policy,
          success_action_status: '201',
        },
      },
    };
  }

  private v1Confirm(c: ApiContext): SimResponse {
    const found = this.v1Item(c);
    if (!found) return { status: 404, body: errorBody.notFound('dataset item') };
    return this.confirmSlot(c.req, found.item, found.slot, {});
  }

  /** S3 POST form (v1, before Oct 2021): every signature field, then `file` as the LAST part → 201. */
  private async s3PostForm(req: SimRequest): Promise<SimResponse> {
    const rid = this.requestId();
    if (!isMultipart(req)) {
      await drain(req.raw);
      return s3Error(
        400,
        'MalformedPOSTRequest',
        'The body of your POST request is not well-formed multipart/form-data.',
        rid,
      );
    }
    const max = this.options.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES;
    let parts: Awaited<ReturnType<typeof parseMultipart>>;
    try {
      parts = await parseMultipart(req, { maxFileBytes: max, headBytes: 0 });
    } catch (err) {
      if (err instanceof MultipartError) {
        return s3Error(400, 'MalformedPOSTRequest', 'The body of your POST request is not well-formed.', rid);
      }
      throw err;
    }
    req.note({ order: parts.order.map((p) => `${p.kind}:${p.name}`) });
    const files = parts.files.filter((f) => f.field === 'file');
    const file = files[0];
    if (files.length !== 1 || !file) {
      return s3Error(400, 'InvalidArgument', 'POST requires exactly one file upload per request.', rid);
    }
    const last = parts.order[parts.order.length - 1];
    if (last?.kind !== 'file' || last.name !== 'file') {
      return s3Error(400, 'InvalidArgument', 'The file or content must be the last field in the form.', rid);
    }
    const field = (name: string) =>
      parts.fields.find((f) => f.name.toLowerCase() === name.toLowerCase())?.value;
    for (const name of V1_FORM_FIELDS) {
      if (field(name) === undefined) {
        return s3Error(400, 'InvalidArgument', `Bucket POST must contain a field named '${name}'.`, rid);
      }
    }
    const key = field('key') as string;
    const grant = this.forms.get(key);
    if (!grant || field('policy') !== grant.policy) {
      return s3Error(403, 'AccessDenied', 'Invalid according to Policy: Policy Condition failed', rid);
    }
    if (!sameHex(field('X-amz-signature') as string, grant.signature)) {
      return s3Error(
        403,
        'SignatureDoesNotMatch',
        'The request signature we calculated does not match the signature you provided.',
        rid,
      );
    }
    if (this.clock() > grant.expiresAt) {
      return s3Error(403, 'AccessDenied', 'Invalid according to Policy: Policy expired.', rid);
    }
    if (file.truncated) {
      return s3Error(400, 'EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size', rid);
    }
    const found = this.store.byUploadId(grant.uploadId);
    if (!found) return s3Error(403, 'AccessDenied', 'Access Denied', rid);
    req.note({ uploadId: grant.uploadId, receivedBytes: file.size });
    this.receiveBytes(req, found.slot, file, file.contentType || undefined);
    const location = `${this.url}/s3-form/${encodeURIComponent(key)}`;
    return postFormCreated(location, key, file.md5, rid);
  }
}
