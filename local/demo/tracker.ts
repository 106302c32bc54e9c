/**
 * Follows uploaded objects through the status table and prints one line per status change.
 *
 * Each tracked object version is read with a Query on its partition key (`object#<bucket>/<key>#v=<versionId>`,
 * see lambdas/domain/delivery.ts; never a Scan) every `everyMs`. A record's `history` lists every transition,
 * so transitions faster than the poll (QUEUED → SENDING → PENDING_VALIDATION within 100 ms) still get a line.
 */

import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { destinationsFor, matchStream } from '#domain/config/match.ts';
import type { RelayConfig } from '#domain/config/types.ts';
import { type DeliveryRecord, objectPk } from '#domain/delivery.ts';
import { type DeliveryStatus, isTerminal, POLLABLE, SUCCESS } from '#domain/status.ts';
import { recordsOf } from '../ingest.ts';
import type { Expectation } from './files.ts';
import { cyan, dim, green, type Print, red, yellow } from './output.ts';
import { Repeat } from './repeat.ts';

export type UploadSource = 'demo' | 'inbox' | 's3';

export interface TrackInput {
  key: string;
  versionId?: string;
  etag: string;
  source: UploadSource;
  expect?: Expectation;
}

export interface Tracked extends TrackInput {
  pk: string;
  /** Records the router should write: one per destination, or one `route` record. */
  expectedRecords: number;
  records: Map<string, { rec: DeliveryRecord; seen: number }>;
  trackedAt: number;
  lastChangeAt: number;
  settled: boolean;
}

export interface TrackerOptions {
  ddb: DynamoDBDocumentClient;
  tableName: string;
  bucket: string;
  config: RelayConfig;
  print: Print;
  /** Time zero of the `+N.Ns` column. */
  t0: number;
  /** Width of the key column (longer keys overflow it). Default 46. */
  keyWidth?: number;
  everyMs?: number;
  /** A Query failed (the table is not reachable, e.g. while stopping). */
  onError?: (error: unknown, key: string) => void;
  /** Every record of the object is in a terminal status. */
  onSettled?: (t: Tracked) => void;
  now?: () => number;
}

/** Records are final and no more will come: the router writes all of an object's records in one go. */
const LATE_RECORD_GRACE_MS = 2000;
const PARALLEL_QUERIES = 8;
const STATUS_WIDTH = 'PENDING_VALIDATION'.length;

export const FAILURE: readonly DeliveryStatus[] = [
  'FAILED_VALIDATION',
  'FAILED',
  'REJECTED',
  'DEAD',
  'UNROUTED',
];

export function colourStatus(status: DeliveryStatus, text: string = status): string {
  if (SUCCESS.includes(status)) return green(text);
  if (FAILURE.includes(status)) return red(text);
  if (status === 'RETRYING') return yellow(text);
  return cyan(text);
}

/** What one history step says beyond its status. */
/** What each vendor calls its id of a delivered file (the detail column). */
const REF_NAMES: Readonly<Record<string, string>> = { instrumental: 'fileId', 'edge-impulse': 'sampleId' };

export function detailOf(
  rec: DeliveryRecord,
  status: DeliveryStatus,
  code: string | undefined,
  current: boolean,
) {
  const ref = rec.vendorRef ? `${REF_NAMES[rec.vendor ?? ''] ?? 'ref'}=${rec.vendorRef}` : '';
  const err = rec.lastError;
  if (current && err && (FAILURE.includes(status) || status === 'RETRYING')) {
    const http = err.httpStatus
      ? ` (HTTP ${err.httpStatus}${err.vendorCode ? ` ${err.vendorCode}` : ''})`
      : '';
    const attempt = status === 'RETRYING' ? `, attempt ${rec.attempts}` : '';
    return [ref, `${err.code}: ${err.message}${http}${attempt}`].filter(Boolean).join('  ');
  }
  if (code) return code;
  if (status === 'SENDING' && current && rec.attempts > 1) return `attempt ${rec.attempts}`;
  if (POLLABLE.includes(status) || SUCCESS.includes(status)) return ref;
  return '';
}

export class StatusTracker {
  private readonly tracked = new Map<string, Tracked>();
  private readonly repeat: Repeat;
  private readonly now: () => number;
  private readonly keyWidth: number;
  private readonly destWidth: number;

  constructor(private readonly opts: TrackerOptions) {
    this.now = opts.now ?? Date.now;
    this.repeat = new Repeat(() => this.pollOnce(), opts.everyMs ?? 300);
    this.keyWidth = opts.keyWidth ?? 46;
    this.destWidth = Math.max(
      'destination'.length,
      ...opts.config.data_transmit.map((t) => t.transmit_name.length),
    );
  }

  /** How many records the router will write for this key (0: a key it ignores, e.g. a sidecar). */
  expectedRecords(key: string): number {
    const match = matchStream(this.opts.config, this.opts.bucket, key);
    if (!match) return 1;
    return destinationsFor(this.opts.config, match.stream).length || 1;
  }

  pkOf(input: Pick<TrackInput, 'key' | 'versionId' | 'etag'>): string {
    return objectPk({ bucket: this.opts.bucket, ...input });
  }

  has(input: Pick<TrackInput, 'key' | 'versionId' | 'etag'>): boolean {
    return this.tracked.has(this.pkOf(input));
  }

  /** Starts following an object version; undefined when it is followed already. */
  track(input: TrackInput): Tracked | undefined {
    const pk = this.pkOf(input);
    if (this.tracked.has(pk)) return undefined;
    const now = this.now();
    const t: Tracked = {
      ...input,
      pk,
      expectedRecords: this.expectedRecords(input.key),
      records: new Map(),
      trackedAt: now,
      lastChangeAt: now,
      settled: false,
    };
    this.tracked.set(pk, t);
    return t;
  }

  get objects(): Tracked[] {
    return [...this.tracked.values()];
  }

  start(): void {
    this.repeat.start();
  }

  stop(): Promise<void> {
    return this.repeat.stop();
  }

  /** One round: a Query for every object not settled yet. */
  async pollOnce(): Promise<void> {
    const open = this.objects.filter((t) => !t.settled);
    for (let i = 0; i < open.length && !this.repeat.isStopped; i += PARALLEL_QUERIES) {
      await Promise.all(open.slice(i, i + PARALLEL_QUERIES).map((t) => this.refresh(t)));
    }
  }

  private async refresh(t: Tracked): Promise<void> {
    let items: DeliveryRecord[];
    try {
      items = await recordsOf(this.opts.ddb, this.opts.tableName, { bucket: this.opts.bucket, ...t });
    } catch (err) {
      if (!this.repeat.isStopped) this.opts.onError?.(err, t.key);
      return;
    }
    const now = this.now();
    for (const rec of items.sort((a, b) => a.sk.localeCompare(b.sk))) {
      const known = t.records.get(rec.sk) ?? { rec, seen: 0 };
      const history = rec.history?.length ? rec.history : [{ at: rec.updatedAt, status: rec.status }];
      for (let i = known.seen; i < history.length; i++) {
        const step = history[i]!;
        if (step.status === 'NOTICE') continue;
        const current = i === history.length - 1 && step.status === rec.status;
        this.opts.print(this.line(t, rec, step.status, detailOf(rec, step.status, step.code, current)));
      }
      if (history.length > known.seen) t.lastChangeAt = now;
      t.records.set(rec.sk, { rec, seen: history.length });
    }
    const recs = [...t.records.values()].map((r) => r.rec);
    const allFinal = recs.length > 0 && recs.every((r) => isTerminal(r.status));
    if (
      allFinal &&
      (recs.length >= t.expectedRecords || now - t.lastChangeAt >= LATE_RECORD_GRACE_MS) &&
      !t.settled
    ) {
      t.settled = true;
      this.opts.onSettled?.(t);
    }
  }

  /** `  +4.2s  line-1/aoi-top/SN-1001_….jpg  ` — the start of every progress line. */
  prefix(key: string): string {
    const elapsed = `+${((this.now() - this.opts.t0) / 1000).toFixed(1)}s`.padStart(7);
    return `  ${dim(elapsed)}  ${key.padEnd(this.keyWidth)}  `;
  }

  /** The column titles above the progress lines. */
  header(): string {
    return dim(
      `  ${'time'.padStart(7)}  ${'key'.padEnd(this.keyWidth)}  ${'destination'.padEnd(this.destWidth)}  ${'status'.padEnd(STATUS_WIDTH)}  detail`,
    );
  }

  line(t: Pick<TrackInput, 'key'>, rec: DeliveryRecord, status: DeliveryStatus, detail: string): string {
    const dest = (rec.destination ?? '-').padEnd(this.destWidth);
    const statusText = colourStatus(status, status.padEnd(STATUS_WIDTH));
    return `${this.prefix(t.key)}${dest}  ${statusText}  ${detail}`.trimEnd();
  }

  /** What one record of `t` should end as: its destination's expectation, else the file's. */
  static expectedFor(t: Tracked, rec: DeliveryRecord): { status: DeliveryStatus; code?: string } | undefined {
    if (!t.expect) return undefined;
    return (rec.destination && t.expect.destinations?.[rec.destination]) || t.expect;
  }

  /** Whether every record of `t` is in the expected terminal status (and has the expected code). */
  static meetsExpectation(t: Tracked): boolean {
    if (!t.expect || !t.settled) return false;
    const recs = [...t.records.values()].map((r) => r.rec);
    return (
      recs.length > 0 &&
      recs.every((r) => {
        const want = StatusTracker.expectedFor(t, r);
        return (
          want !== undefined &&
          r.status === want.status &&
          (!want.code || (r.lastError?.code ?? r.notice?.code) === want.code)
        );
      })
    );
  }

  /** `ended REJECTED (NOT_A_JPEG), expected UPLOADED`, or `still SENDING` for one that did not settle. */
  static describeOutcome(t: Tracked): string {
    const recs = [...t.records.values()].map((r) => r.rec);
    const got =
      recs.length === 0
        ? 'no status record yet'
        : recs
            .map(
              (r) =>
                `${r.status}${r.lastError?.code ? ` (${r.lastError.code}: ${r.lastError.message})` : ''}`,
            )
            .join(', ');
    const want = t.expect
      ? `${t.expect.status}${t.expect.code ? ` (${t.expect.code})` : ''}`
      : 'anything final';
    return `${t.settled ? 'ended' : 'still'} ${got}; expected ${want}`;
  }
}

const WORDS: Partial<Record<DeliveryStatus, string>> = {
  FAILED_VALIDATION: 'failed validation',
};

/**
 * `6 files; instrumental-demo: 4 uploaded, 1 rejected (NOT_A_JPEG); 1 unrouted (NO_MATCHING_STREAM)`:
 * delivery records counted per destination (by name, so a run prints the same order whatever finished first) by status (terminal statuses
 * first), codes in brackets; records with no destination (unrouted keys) last.
 */
export function summarize(objects: readonly Tracked[]): string {
  const byDest = new Map<string, Map<DeliveryStatus, { n: number; codes: Set<string> }>>();
  let noRecord = 0;
  for (const t of objects) {
    const recs = [...t.records.values()].map((r) => r.rec);
    if (recs.length === 0) noRecord++;
    for (const r of recs) {
      const dest = r.destination ?? '';
      const counts = byDest.get(dest) ?? new Map<DeliveryStatus, { n: number; codes: Set<string> }>();
      byDest.set(dest, counts);
      const c = counts.get(r.status) ?? { n: 0, codes: new Set<string>() };
      c.n++;
      const code = SUCCESS.includes(r.status)
        ? r.status === 'ALREADY_PRESENT'
          ? r.notice?.code
          : undefined
        : r.lastError?.code;
      if (code) c.codes.add(code);
      counts.set(r.status, c);
    }
  }
  const order: DeliveryStatus[] = [
    'UPLOADED',
    'COMPLETED',
    'ALREADY_PRESENT',
    'SKIPPED',
    'REJECTED',
    'FAILED_VALIDATION',
    'FAILED',
    'DEAD',
    'UNCONFIRMED',
    'UNROUTED',
    'RECEIVED',
    'QUEUED',
    'SENDING',
    'RETRYING',
    'HELD',
    'ACCEPTED',
    'PENDING_VALIDATION',
    'PROCESSING',
  ];
  const describe = (counts: Map<DeliveryStatus, { n: number; codes: Set<string> }>) =>
    order.flatMap((s) => {
      const c = counts.get(s);
      if (!c) return [];
      const word = WORDS[s] ?? (isTerminal(s) ? s.toLowerCase().replace('_', ' ') : `still ${s}`);
      return [`${c.n} ${word}${c.codes.size ? ` (${[...c.codes].join(', ')})` : ''}`];
    });
  const parts = [`${objects.length} file${objects.length === 1 ? '' : 's'}`];
  const dests = [...byDest.keys()].sort((a, b) => (a === '' ? 1 : b === '' ? -1 : a.localeCompare(b)));
  for (const d of dests) {
    const text = describe(byDest.get(d) ?? new Map()).join(', ');
    parts.push(d === '' ? text : `${d}: ${text}`);
  }
  if (noRecord > 0) parts.push(`${noRecord} not routed yet`);
  return parts.join('; ');
}
