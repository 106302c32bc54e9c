/**
 * DynamoDB adapter: delivery records, destination state and the shared rate-limit buckets, all in the one
 * status table (lambdas/commons/table.ts). Every state change is a conditional write, so duplicate S3 events,
 * SQS redeliveries and concurrent forwarders never move a delivery twice.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { BatchGetCommandOutput, UpdateCommandInput } from '@aws-sdk/lib-dynamodb';
import { TABLE, UNROUTED_PARTITION } from '#commons/table.ts';
import {
  type DeliveryKey,
  type DeliveryMessage,
  type DeliveryRecord,
  destinationOfSk,
  fromItem,
  type HistoryEntry,
  historyText,
  type NewDelivery,
  objectOf,
  toItem,
} from '#domain/delivery.ts';
import type { FinishUpdate } from '#domain/forward.ts';
import {
  type BatchDeltas,
  type DestinationCounters,
  type ErrorAt,
  type StreamCounters,
  UNROUTED_TARGET,
  type WhereWhen,
} from '#domain/ops/aggregate.ts';
import { invalid } from '#domain/ops/envelope.ts';
import type { ConfigVersion, IndexQuery, Page, StoredRequest } from '#domain/ops/types.ts';
import type { CheckUpdate } from '#domain/poll.ts';
import { gcra, type RateLimit } from '#domain/rate-limit.ts';
import {
  type DeliveryStatus,
  DUE,
  FAILURE,
  isDue,
  isPollable,
  type RecordedError,
  SUCCESS,
} from '#domain/status.ts';
import type { JsonObject } from '#vendors/types.ts';
import {
  BatchGetCommand,
  DeleteCommand,
  DocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from './aws/dynamodb-client.ts';
import type { TransportOptions } from './aws/transport.ts';

/** The table's client: endpoint, region and credentials from the environment unless given. */
export function createDocumentClient(opts: TransportOptions = {}): DocumentClient {
  return new DocumentClient(opts);
}

export type ClaimResult =
  | { kind: 'claimed'; record: DeliveryRecord }
  | { kind: 'busy'; record: DeliveryRecord; leaseRemainingMs: number }
  | { kind: 'early'; record: DeliveryRecord; dueInMs: number }
  | { kind: 'settled'; record: DeliveryRecord }
  | { kind: 'missing' };

export type { FinishUpdate };

export interface DestinationState {
  name: string;
  paused: boolean;
  reason?: RecordedError;
  pausedAt?: string;
  /** When a paused destination may send one probe request to see whether it works again. */
  probeAt?: string;
  /** Set by an operator's stop (FactoryTX `/v1/ftx/stop`): no probing, only a start resumes. */
  stoppedByOperator?: boolean;
  /** Who stopped or started it, and when it last ran again. */
  by?: string;
  resumedAt?: string;
}

const isConditionFailure = (err: unknown): err is Error & { Item?: Record<string, unknown> } =>
  err instanceof Error && err.name === 'ConditionalCheckFailedException';

/** A conditional update: true when it was applied, false when its condition did not hold. */
async function updateIf(doc: DocumentClient, input: UpdateCommandInput): Promise<boolean> {
  try {
    await doc.send(new UpdateCommand(input));
    return true;
  } catch (err) {
    if (isConditionFailure(err)) return false;
    throw err;
  }
}

/** Builds an update expression: SET and REMOVE clauses with their names and values. */
class Update {
  readonly sets: string[] = [];
  readonly removes: string[] = [];
  readonly names: Record<string, string> = {};
  readonly values: Record<string, unknown> = {};
  set(attr: string, value: unknown): this {
    const n = `#${attr}`;
    this.names[n] = attr;
    this.values[`:${attr}`] = value;
    this.sets.push(`${n} = :${attr}`);
    return this;
  }
  raw(expr: string, values: Record<string, unknown> = {}, names: Record<string, string> = {}): this {
    this.sets.push(expr);
    Object.assign(this.values, values);
    Object.assign(this.names, names);
    return this;
  }
  remove(attr: string): this {
    this.names[`#${attr}`] = attr;
    this.removes.push(`#${attr}`);
    return this;
  }
  expression(): string {
    return [
      this.sets.length ? `SET ${this.sets.join(', ')}` : '',
      this.removes.length ? `REMOVE ${this.removes.join(', ')}` : '',
    ]
      .filter(Boolean)
      .join(' ');
  }
}

const notOurToken = () =>
  invalid('next is not a token this API gave (pass back the next of the page before)');

/**
 * The ExclusiveStartKey in an index page's `next` token: the base64url JSON of the table's and the index's key
 * attributes, the partition the one asked for. Anything else is a 400, not a DynamoDB error (a 500).
 */
function startKeyOf(
  next: string,
  q: IndexQuery,
  idx: { partitionKey: string; sortKey: string },
): Record<string, unknown> {
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(next, 'base64url').toString('utf8'));
  } catch {
    throw notOurToken();
  }
  if (key === null || typeof key !== 'object' || Array.isArray(key)) throw notOurToken();
  const k = key as Record<string, unknown>;
  const names = new Set(['pk', 'sk', idx.partitionKey, idx.sortKey]);
  if (Object.keys(k).length !== names.size || ![...names].every((n) => typeof k[n] === 'string'))
    throw notOurToken();
  if (k[idx.partitionKey] !== q.value) throw notOurToken();
  return k;
}

const configSk = (version: number) => `v#${String(version).padStart(10, '0')}`;

function configVersionOf(item: Record<string, unknown>): ConfigVersion {
  return {
    version: Number(item.version),
    savedAt: String(item.savedAt),
    by: String(item.by),
    text: String(item.text),
    json: String(item.json),
    ...(typeof item.baseHash === 'string' ? { baseHash: item.baseHash } : {}),
  };
}

/** History kept on a record: its first entry and the latest ones (an item stays well under 1 KB). */
export const HISTORY_LIMIT = 12;

/** The first entry, an elision marker when entries were dropped, and the latest ones: at most HISTORY_LIMIT. */
export function boundHistory(entries: HistoryEntry[]): HistoryEntry[] {
  if (entries.length <= HISTORY_LIMIT) return entries;
  const first = entries[0] as HistoryEntry;
  const tail = entries.slice(entries.length - (HISTORY_LIMIT - 1));
  return [first, ...tail];
}

export class StatusTable {
  private readonly tats = new Map<string, number | null>();
  /** The history each delivery claimed by this instance had, so its outcome writes the bounded whole. */
  private readonly claimedHistory = new Map<string, HistoryEntry[]>();

  constructor(
    private readonly doc: DocumentClient,
    readonly tableName: string,
    private readonly now: () => number = Date.now,
  ) {}

  private iso(ms = this.now()): string {
    return new Date(ms).toISOString();
  }

  private history(status: DeliveryStatus, code?: string): HistoryEntry[] {
    return [code ? { at: this.iso(), status, code } : { at: this.iso(), status }];
  }

  /** A history entry as stored (compact text, see delivery.ts). */
  private historyItem(status: DeliveryStatus | 'NOTICE', code?: string): string[] {
    return [historyText(code ? { at: this.iso(), status, code } : { at: this.iso(), status })];
  }

  /**
   * Appends to a record's history: when this instance knows the current history (it claimed the delivery, or
   * the poller read it), it writes the bounded whole; otherwise list_append (rare writes: holds, notices).
   */
  private appendHistory(u: Update, entry: HistoryEntry[], known?: HistoryEntry[]): void {
    if (known) u.set('history', boundHistory([...known, ...entry]).map(historyText));
    else
      u.raw(
        '#history = list_append(#history, :h)',
        { ':h': entry.map(historyText) },
        { '#history': 'history' },
      );
  }

  /**
   * The index attributes that follow a status: `due` while someone has to act (byDue), `outcome` and
   * `settledAt` once final (byOutcome). Written with the status, so an index entry moves only when its
   * answer does.
   */
  private indexFor(
    u: Update,
    destination: string | undefined,
    status: DeliveryStatus,
    nextCheckAt: string,
  ): void {
    u.set('nextCheckAt', nextCheckAt);
    if (destination && isDue(status)) u.set('due', `${destination}#${status}`);
    else u.remove('due');
    if (FAILURE.includes(status)) {
      u.set('outcome', destination ? `${destination}#${status}` : UNROUTED_PARTITION);
      u.set('settledAt', this.iso());
    }
  }

  // ---- router ----------------------------------------------------------------------------------------

  /** Creates the record unless it exists; answers the existing one otherwise (one read saved by ALL_OLD). */
  async createDelivery(
    rec: NewDelivery,
  ): Promise<{ created: true; record: DeliveryRecord } | { created: false; record: DeliveryRecord }> {
    const now = this.iso();
    const item: DeliveryRecord = {
      ...rec,
      attempts: 0,
      createdAt: now,
      updatedAt: now,
      history: this.history(rec.status, rec.lastError?.code ?? rec.notice?.code),
    };
    const indexed = toItem(this.indexed(item));
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: indexed,
          ConditionExpression: 'attribute_not_exists(pk)',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { created: true, record: item };
    } catch (err) {
      if (isConditionFailure(err) && err.Item) {
        return { created: false, record: asRecord(err.Item) };
      }
      if (isConditionFailure(err)) {
        const existing = await this.get(rec);
        if (existing) return { created: false, record: existing };
      }
      throw err;
    }
  }

  /** Adds a remark that is not a failure (a sidecar that came after its file was routed). */
  async addNotice(key: DeliveryKey, notice: RecordedError): Promise<boolean> {
    return this.updateIf({
      TableName: this.tableName,
      Key: { pk: key.pk, sk: key.sk },
      UpdateExpression: 'SET notice = :n, updatedAt = :now, #history = list_append(#history, :h)',
      ConditionExpression: 'attribute_exists(pk) AND (attribute_not_exists(notice) OR notice.code <> :code)',
      ExpressionAttributeNames: { '#history': 'history' },
      ExpressionAttributeValues: {
        ':n': notice,
        ':code': notice.code,
        ':now': this.iso(),
        ':h': this.historyItem('NOTICE', notice.code),
      },
    });
  }

  // ---- forwarder -------------------------------------------------------------------------------------

  /**
   * Takes the delivery for sending: from RECEIVED, QUEUED or HELD; from RETRYING once its backoff has ended;
   * or from SENDING whose lease has expired (the previous forwarder died mid-send: its send is counted as
   * ambiguous, since the vendor may have it). Counts the attempt.
   */
  async claim(key: DeliveryKey, owner: string, leaseMs: number): Promise<ClaimResult> {
    const now = this.now();
    const destination = destinationOfSk(key.sk) ?? '';
    const claimWith = async (condition: string, extra: Record<string, unknown>, ambiguous: boolean) => {
      const u = new Update()
        .set('status', 'SENDING')
        .set('leaseOwner', owner)
        .set('leaseExpiresAt', now + leaseMs)
        .set('updatedAt', this.iso(now))
        .raw('attempts = attempts + :one', { ':one': 1 })
        .raw(
          '#history = list_append(#history, :h)',
          { ':h': this.historyItem('SENDING', ambiguous ? 'LEASE_EXPIRED' : undefined) },
          { '#history': 'history' },
        );
      if (ambiguous) u.raw('ambiguousSends = if_not_exists(ambiguousSends, :zero) + :one', { ':zero': 0 });
      this.indexFor(u, destination, 'SENDING', this.iso(now));
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: key.pk, sk: key.sk },
          UpdateExpression: u.expression(),
          ConditionExpression: condition,
          ExpressionAttributeNames: u.names,
          ExpressionAttributeValues: { ...u.values, ...extra },
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      const rec = asRecord(out.Attributes ?? {});
      if (Array.isArray(rec.history)) this.claimedHistory.set(`${key.pk}\n${key.sk}`, rec.history);
      return rec;
    };
    let record: DeliveryRecord;
    try {
      return {
        kind: 'claimed',
        record: await claimWith(
          'attribute_exists(pk) AND (#status IN (:s0, :s1, :s2) OR (#status = :retrying AND #nextCheckAt <= :nowIso))',
          {
            ':s0': 'RECEIVED',
            ':s1': 'QUEUED',
            ':s2': 'HELD',
            ':retrying': 'RETRYING',
            ':nowIso': this.iso(now),
          },
          false,
        ),
      };
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
      if (!err.Item) return { kind: 'missing' };
      record = asRecord(err.Item);
    }
    if (record.status === 'RETRYING') {
      return { kind: 'early', record, dueInMs: Math.max(1_000, Date.parse(record.nextCheckAt ?? '') - now) };
    }
    if (record.status === 'SENDING' && (record.leaseExpiresAt ?? 0) < now) {
      try {
        return {
          kind: 'claimed',
          record: await claimWith(
            '#status = :sendingNow AND leaseOwner = :prev AND leaseExpiresAt < :nowMs',
            { ':sendingNow': 'SENDING', ':prev': record.leaseOwner ?? '', ':nowMs': now },
            true,
          ),
        };
      } catch (err) {
        if (!isConditionFailure(err)) throw err;
        record = err.Item ? asRecord(err.Item) : record;
      }
    }
    if (record.status === 'SENDING') {
      return { kind: 'busy', record, leaseRemainingMs: Math.max(0, (record.leaseExpiresAt ?? now) - now) };
    }
    return { kind: 'settled', record };
  }

  /** Writes the record a queue message stands for, when none exists (the router's write was lost). */
  async adopt(
    msg: DeliveryMessage,
    status: 'QUEUED' | 'REJECTED' | 'HELD',
    error?: RecordedError,
  ): Promise<boolean> {
    const created = await this.createDelivery({
      pk: msg.pk,
      sk: msg.sk,
      status,
      destination: msg.destination,
      vendor: msg.vendor,
      ...objectOf(msg.object),
      fields: msg.fields,
      ...(msg.serialNumber ? { serialNumber: msg.serialNumber } : {}),
      ...(msg.asset ? { asset: msg.asset } : {}),
      ...(msg.streamType ? { streamType: msg.streamType } : {}),
      ...(msg.sidecar ? { sidecar: msg.sidecar } : {}),
      ...(error ? { lastError: error } : {}),
    });
    return created.created;
  }

  /** Records the outcome of a send, only while this forwarder still holds the lease. */
  async finish(key: DeliveryKey, owner: string, destination: string, update: FinishUpdate): Promise<boolean> {
    const now = this.iso();
    const u = new Update()
      .set('status', update.status)
      .set('updatedAt', now)
      .remove('leaseOwner')
      .remove('leaseExpiresAt');
    const id = `${key.pk}\n${key.sk}`;
    this.appendHistory(
      u,
      this.history(update.status, update.error?.code ?? update.notice?.code),
      this.claimedHistory.get(id),
    );
    this.claimedHistory.delete(id);
    this.indexFor(u, destination, update.status, update.nextCheckAt ?? now);
    if (update.vendorRef !== undefined) u.set('vendorRef', update.vendorRef);
    if (update.error) u.set('lastError', update.error);
    else if (update.status !== 'RETRYING') u.remove('lastError');
    if (update.notice) u.set('notice', update.notice);
    if (update.detail) u.set('vendorDetail', update.detail);
    if (isPollable(update.status)) u.set('pollCount', 0);
    if (update.ambiguous)
      u.raw('ambiguousSends = if_not_exists(ambiguousSends, :zero) + :one', { ':zero': 0, ':one': 1 });
    if (update.refund) u.raw('attempts = attempts - :minus', { ':minus': 1 });
    return this.updateIf({
      TableName: this.tableName,
      Key: { pk: key.pk, sk: key.sk },
      UpdateExpression: u.expression(),
      ConditionExpression: '#status = :sending AND leaseOwner = :owner',
      ExpressionAttributeNames: u.names,
      ExpressionAttributeValues: { ...u.values, ':sending': 'SENDING', ':owner': owner },
    });
  }

  /**
   * Parks a delivery that waits on its destination (paused, stopped, disabled) without claiming it: HELD with
   * the reason. Writes only when something changes, so a long pause does not grow the history.
   */
  async hold(key: DeliveryKey, destination: string, reason: RecordedError): Promise<boolean> {
    const u = new Update()
      .set('status', 'HELD')
      .set('lastError', reason)
      .set('updatedAt', this.iso())
      .raw(
        '#history = list_append(#history, :h)',
        { ':h': this.historyItem('HELD', reason.code) },
        { '#history': 'history' },
      );
    this.indexFor(u, destination, 'HELD', this.iso());
    const changed = await this.updateIf({
      TableName: this.tableName,
      Key: { pk: key.pk, sk: key.sk },
      UpdateExpression: u.expression(),
      ConditionExpression:
        '#status IN (:s0, :s1, :s2, :s3) AND (#status <> :s3 OR attribute_not_exists(lastError) OR lastError.code <> :code)',
      ExpressionAttributeNames: u.names,
      ExpressionAttributeValues: {
        ...u.values,
        ':s0': 'RECEIVED',
        ':s1': 'QUEUED',
        ':s2': 'RETRYING',
        ':s3': 'HELD',
        ':code': reason.code,
      },
    });
    // Already HELD for this reason: its message was a release that met the pause again. Touch the record, so
    // that the poller's mark of that release (QUEUED, conditioned on the record it read) cannot land and leave
    // a QUEUED delivery whose message this forwarder just acknowledged.
    if (changed) return true;
    return this.updateIf({
      TableName: this.tableName,
      Key: { pk: key.pk, sk: key.sk },
      UpdateExpression: 'SET updatedAt = :now',
      ConditionExpression: '#status = :held',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: { ':now': this.iso(), ':held': 'HELD' },
    });
  }

  /** HELD (or RECEIVED, for the sweeper) → QUEUED after its message was put back on the queue. */
  async markRequeued(rec: DeliveryRecord): Promise<boolean> {
    const u = new Update().set('status', 'QUEUED').set('updatedAt', this.iso());
    this.appendHistory(u, this.history('QUEUED'), Array.isArray(rec.history) ? rec.history : undefined);
    this.indexFor(u, rec.destination, 'QUEUED', this.iso());
    return this.updateIf({
      TableName: this.tableName,
      Key: { pk: rec.pk, sk: rec.sk },
      UpdateExpression: u.expression(),
      // As read: a forwarder that held it again meanwhile (and acknowledged the message) changed updatedAt.
      ConditionExpression: rec.updatedAt
        ? '#status = :expected AND updatedAt = :read'
        : '#status = :expected',
      ExpressionAttributeNames: u.names,
      ExpressionAttributeValues: {
        ...u.values,
        ':expected': rec.status,
        ...(rec.updatedAt ? { ':read': rec.updatedAt } : {}),
      },
    });
  }

  /** Moves a stuck delivery's next look-in (a RETRYING one whose message was re-sent by the sweeper). */
  async deferCheck(rec: DeliveryRecord, nextCheckAt: string): Promise<boolean> {
    return this.updateIf({
      TableName: this.tableName,
      Key: { pk: rec.pk, sk: rec.sk },
      UpdateExpression: 'SET nextCheckAt = :next',
      ConditionExpression: '#status = :expected',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: { ':next': nextCheckAt, ':expected': rec.status },
    });
  }

  /** Saves a multi-step vendor's progress under the lease, so the next attempt resumes from it. */
  async saveCheckpoint(key: DeliveryKey, owner: string, data: JsonObject): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: key.pk, sk: key.sk },
        UpdateExpression: 'SET #checkpoint = :cp, updatedAt = :now',
        ConditionExpression: 'leaseOwner = :owner',
        ExpressionAttributeNames: { '#checkpoint': 'checkpoint' },
        ExpressionAttributeValues: { ':cp': data, ':now': this.iso(), ':owner': owner },
      }),
    );
  }

  /**
   * Claims a one-time step of a delivery (bringing its result home) until `forMs` from now, on its record:
   * true for one caller; false while another holds an unexpired claim (a poller and a callback at once, a
   * duplicated callback). A claim whose holder died lapses after `forMs`.
   */
  async claimStep(key: DeliveryKey, step: string, forMs: number): Promise<boolean> {
    const now = this.now();
    return this.updateIf({
      TableName: this.tableName,
      Key: { pk: key.pk, sk: key.sk },
      UpdateExpression: 'SET #claim = :until',
      ConditionExpression: 'attribute_exists(pk) AND (attribute_not_exists(#claim) OR #claim < :now)',
      ExpressionAttributeNames: { '#claim': `claim:${step}` },
      ExpressionAttributeValues: { ':until': now + forMs, ':now': now },
    });
  }

  /** Gives a step's claim back (the step failed; another check may try at once). */
  async releaseStep(key: DeliveryKey, step: string): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: key.pk, sk: key.sk },
        UpdateExpression: 'REMOVE #claim',
        ExpressionAttributeNames: { '#claim': `claim:${step}` },
      }),
    );
  }

  /** Extends a lease (long multi-step sends). */
  async extendLease(key: DeliveryKey, owner: string, leaseMs: number): Promise<boolean> {
    return this.updateIf({
      TableName: this.tableName,
      Key: { pk: key.pk, sk: key.sk },
      UpdateExpression: 'SET leaseExpiresAt = :lease',
      ConditionExpression: 'leaseOwner = :owner',
      ExpressionAttributeValues: { ':lease': this.now() + leaseMs, ':owner': owner },
    });
  }

  async get(key: DeliveryKey): Promise<DeliveryRecord | undefined> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: key.pk, sk: key.sk }, ConsistentRead: true }),
    );
    return out.Item ? asRecord(out.Item) : undefined;
  }

  /** Every record of one object version (all its destinations, or its unrouted record). */
  async forObject(pk: string): Promise<DeliveryRecord[]> {
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': pk },
        ConsistentRead: true,
      }),
    );
    return (out.Items ?? []).map(asRecord);
  }

  // ---- poller ----------------------------------------------------------------------------------------

  /**
   * Deliveries of one destination in one status whose next check is at or before `before` (default now):
   * an index query on byDue, never a scan.
   */
  async due(
    destination: string,
    status: DeliveryStatus,
    limit: number,
    before: string = this.iso(),
  ): Promise<DeliveryRecord[]> {
    const idx = TABLE.indexes.byDue;
    const items: DeliveryRecord[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: idx.name,
          KeyConditionExpression: '#p = :p AND #s <= :before',
          ExpressionAttributeNames: { '#p': idx.partitionKey, '#s': idx.sortKey },
          ExpressionAttributeValues: { ':p': `${destination}#${status}`, ':before': before },
          Limit: Math.min(limit - items.length, 1000),
          ExclusiveStartKey: startKey,
        }),
      );
      for (const i of out.Items ?? []) items.push(asRecord(i));
      startKey = out.LastEvaluatedKey;
    } while (startKey && items.length < limit);
    return items;
  }

  /** Applies what a status check found, if nobody moved the delivery meanwhile. */
  async applyCheck(rec: DeliveryRecord, update: CheckUpdate): Promise<boolean> {
    const changed = update.status !== rec.status;
    const u = new Update()
      .set('status', update.status)
      .set('updatedAt', this.iso())
      .raw('pollCount = if_not_exists(pollCount, :zero) + :one', { ':zero': 0, ':one': 1 });
    this.indexFor(u, rec.destination, update.status, update.nextCheckAt);
    if (changed) {
      this.appendHistory(
        u,
        this.history(update.status, update.error?.code ?? update.notice?.code),
        Array.isArray(rec.history) ? rec.history : undefined,
      );
    }
    if (update.error) u.set('lastError', update.error);
    // A delivery that made it keeps no failure from the way there (a status check that failed once).
    else if (changed && SUCCESS.includes(update.status)) u.remove('lastError');
    if (update.notice) u.set('notice', update.notice);
    if (update.detail) u.set('vendorDetail', update.detail);
    if (update.vendorRef) u.set('vendorRef', update.vendorRef);
    return this.updateIf({
      TableName: this.tableName,
      Key: { pk: rec.pk, sk: rec.sk },
      UpdateExpression: u.expression(),
      ConditionExpression: '#status = :expected',
      ExpressionAttributeNames: u.names,
      ExpressionAttributeValues: { ...u.values, ':expected': rec.status },
    });
  }

  // ---- destinations ----------------------------------------------------------------------------------

  async destinationState(name: string): Promise<DestinationState> {
    const out = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: `destination#${name}`, sk: 'state' },
        ConsistentRead: true,
      }),
    );
    const item = out.Item as (DestinationState & Record<string, unknown>) | undefined;
    return item ? { ...item, name, paused: item.paused === true } : { name, paused: false };
  }

  /** Pauses a destination (credentials, a quota…), unless an operator stopped it (then it stays stopped). */
  async pauseDestination(name: string, reason: RecordedError, probeAt: string): Promise<void> {
    await this.updateIf({
      TableName: this.tableName,
      Key: { pk: `destination#${name}`, sk: 'state' },
      UpdateExpression:
        'SET #name = :name, paused = :true, reason = :reason, probeAt = :probeAt, pausedAt = if_not_exists(pausedAt, :now), updatedAt = :now',
      ConditionExpression: 'attribute_not_exists(stoppedByOperator) OR stoppedByOperator = :false',
      ExpressionAttributeNames: { '#name': 'name' },
      ExpressionAttributeValues: {
        ':name': name,
        ':true': true,
        ':false': false,
        ':reason': reason,
        ':probeAt': probeAt,
        ':now': this.iso(),
      },
    });
  }

  /** One forwarder (or poller) takes a paused destination's due probe; the next is moved to `nextProbeAt`. */
  async takeProbe(name: string, nextProbeAt: string): Promise<boolean> {
    return this.updateIf({
      TableName: this.tableName,
      Key: { pk: `destination#${name}`, sk: 'state' },
      UpdateExpression: 'SET probeAt = :next',
      ConditionExpression: 'paused = :true AND stoppedByOperator <> :true AND probeAt <= :now',
      ExpressionAttributeValues: { ':next': nextProbeAt, ':true': true, ':now': this.iso() },
    });
  }

  /** A probe got through: the destination runs again (never over an operator's stop). */
  async resumeDestination(name: string): Promise<boolean> {
    return this.updateIf({
      TableName: this.tableName,
      Key: { pk: `destination#${name}`, sk: 'state' },
      UpdateExpression:
        'SET paused = :false, resumedAt = :now, updatedAt = :now REMOVE reason, probeAt, pausedAt',
      ConditionExpression: 'paused = :true AND stoppedByOperator <> :true',
      ExpressionAttributeValues: { ':true': true, ':false': false, ':now': this.iso() },
    });
  }

  /** An operator's stop (FactoryTX `stop`): deliveries are held, nothing is probed, only a start resumes. */
  async stopDestination(name: string, by: string): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          pk: `destination#${name}`,
          sk: 'state',
          name,
          paused: true,
          stoppedByOperator: true,
          by,
          reason: { code: 'DESTINATION_STOPPED', message: `stopped by ${by}` },
          pausedAt: this.iso(),
          updatedAt: this.iso(),
        },
      }),
    );
  }

  /** An operator's start: the destination runs; the poller queues its held deliveries again. */
  async startDestination(name: string, by: string): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          pk: `destination#${name}`,
          sk: 'state',
          name,
          paused: false,
          stoppedByOperator: false,
          by,
          resumedAt: this.iso(),
          updatedAt: this.iso(),
        },
      }),
    );
  }

  /**
   * The destinations the poller has seen in the config, one small item each (pk `relay#destinations`): how it
   * finds the deliveries of one that a later config removed.
   */
  async knownDestinations(): Promise<string[]> {
    const names: string[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': KNOWN_DESTINATIONS },
          ConsistentRead: true,
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      for (const item of out.Items ?? []) if (typeof item.name === 'string') names.push(item.name);
      start = out.LastEvaluatedKey;
    } while (start);
    return names;
  }

  async rememberDestination(name: string): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { pk: KNOWN_DESTINATIONS, sk: `name#${name}`, name, seenAt: this.iso() },
      }),
    );
  }

  async forgetDestination(name: string): Promise<void> {
    await this.doc.send(
      new DeleteCommand({ TableName: this.tableName, Key: { pk: KNOWN_DESTINATIONS, sk: `name#${name}` } }),
    );
  }

  // ---- ops: index reads, operator requests, config versions ---------------------------------------------

  /** One page of an index (bySerial, byOutcome, byDue), sort key within [from, to]; `next` is opaque. */
  async query(q: IndexQuery): Promise<Page<DeliveryRecord>> {
    const idx = TABLE.indexes[q.index];
    const names: Record<string, string> = { '#p': idx.partitionKey };
    const values: Record<string, unknown> = { ':p': q.value };
    let cond = '#p = :p';
    if (q.from || q.to) {
      names['#s'] = idx.sortKey;
      if (q.from) values[':from'] = q.from;
      if (q.to) values[':to'] = q.to;
      cond +=
        q.from && q.to ? ' AND #s BETWEEN :from AND :to' : q.from ? ' AND #s >= :from' : ' AND #s <= :to';
    }
    const command = new QueryCommand({
      TableName: this.tableName,
      IndexName: idx.name,
      KeyConditionExpression: cond,
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
      Limit: q.limit,
      ExclusiveStartKey: q.next ? startKeyOf(q.next, q, idx) : undefined,
    });
    const out = await this.doc.send(command).catch((err: unknown) => {
      // A start key of the right shape that does not fit this query (another serial, outside since/until).
      if (q.next && (err as { name?: string }).name === 'ValidationException') throw notOurToken();
      throw err;
    });
    const entries = out.Items ?? [];
    const items = idx.projection === 'KEYS_ONLY' ? await this.itemsOf(entries) : entries;
    return {
      items: items.map(asRecord),
      ...(out.LastEvaluatedKey
        ? { next: Buffer.from(JSON.stringify(out.LastEvaluatedKey), 'utf8').toString('base64url') }
        : {}),
    };
  }

  /**
   * The items behind a keys-only index page, in the page's order (BatchGetItem, 100 keys a call, unprocessed
   * keys asked again); an item deleted since the index saw it is left out.
   */
  private async itemsOf(entries: ReadonlyArray<Record<string, unknown>>): Promise<Record<string, unknown>[]> {
    const id = (i: Record<string, unknown>) => `${String(i.pk)}\n${String(i.sk)}`;
    const found = new Map<string, Record<string, unknown>>();
    for (let i = 0; i < entries.length; i += 100) {
      let keys: Array<Record<string, unknown>> = entries
        .slice(i, i + 100)
        .map((e) => ({ pk: e.pk, sk: e.sk }));
      for (let round = 0; keys.length > 0; round++) {
        if (round >= 8) throw new Error(`BatchGetItem left ${keys.length} keys unprocessed after 8 rounds`);
        if (round > 0) await sleep(Math.min(1000, 25 * 2 ** round));
        const out: BatchGetCommandOutput = await this.doc.send(
          new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: keys } } }),
        );
        for (const item of out.Responses?.[this.tableName] ?? []) found.set(id(item), item);
        keys = out.UnprocessedKeys?.[this.tableName]?.Keys ?? [];
      }
    }
    return entries.flatMap((e) => {
      const item = found.get(id(e));
      return item ? [item] : [];
    });
  }

  /** Operator requests (restream, redrive) live in one partition per kind: `ops#<kind>` / `<id>`. */
  async putRequest(req: StoredRequest): Promise<{ created: boolean; stored: StoredRequest }> {
    const { kind, id, ...rest } = req;
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...rest, pk: `ops#${kind}`, sk: id },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return { created: true, stored: req };
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
      return { created: false, stored: (await this.getRequest(kind, id)) as StoredRequest };
    }
  }

  async updateRequest(
    kind: StoredRequest['kind'],
    id: string,
    fields: Record<string, unknown>,
  ): Promise<void> {
    const u = new Update();
    for (const [k, v] of Object.entries(fields)) u.set(k, v);
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: `ops#${kind}`, sk: id },
        UpdateExpression: u.expression(),
        ExpressionAttributeNames: u.names,
        ExpressionAttributeValues: u.values,
      }),
    );
  }

  async claimRequest(
    kind: StoredRequest['kind'],
    id: string,
    lease: string,
    leaseUntil: number,
    now: number,
  ): Promise<StoredRequest | undefined> {
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: `ops#${kind}`, sk: id },
          UpdateExpression: 'SET #lease = :lease, leaseUntil = :until',
          ConditionExpression:
            'attribute_exists(pk) AND #state = :running AND (attribute_not_exists(leaseUntil) OR leaseUntil < :now)',
          ExpressionAttributeNames: { '#lease': 'lease', '#state': 'state' },
          ExpressionAttributeValues: {
            ':lease': lease,
            ':until': leaseUntil,
            ':running': 'running',
            ':now': now,
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      const { pk: _pk, sk, ...rest } = out.Attributes ?? {};
      return { ...rest, kind, id: String(sk) };
    } catch (err) {
      if (isConditionFailure(err)) return undefined;
      throw err;
    }
  }

  async updateLeased(
    kind: StoredRequest['kind'],
    id: string,
    lease: string,
    fields: Record<string, unknown>,
  ): Promise<boolean> {
    const u = new Update();
    for (const [k, v] of Object.entries(fields)) u.set(k, v);
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: `ops#${kind}`, sk: id },
          UpdateExpression: u.expression(),
          ConditionExpression: '#leaseHeld = :leaseHeld',
          ExpressionAttributeNames: { ...u.names, '#leaseHeld': 'lease' },
          ExpressionAttributeValues: { ...u.values, ':leaseHeld': lease },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  async getRequest(kind: StoredRequest['kind'], id: string): Promise<StoredRequest | undefined> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: `ops#${kind}`, sk: id }, ConsistentRead: true }),
    );
    if (!out.Item) return undefined;
    const { pk: _pk, sk, ...rest } = out.Item;
    return { ...rest, kind, id: String(sk) };
  }

  /** The latest requests of a kind (redrive ids start with their time, so newest first). */
  async listRequests(kind: StoredRequest['kind'], limit: number): Promise<StoredRequest[]> {
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': `ops#${kind}` },
        ScanIndexForward: false,
        Limit: limit,
      }),
    );
    return (out.Items ?? []).map(({ pk: _pk, sk, ...rest }) => ({ ...rest, kind, id: String(sk) }));
  }

  /** Saved config versions: `config` / `v#<version, 10 digits>`, the latest read with one query. */
  async latestConfig(consistent = true): Promise<ConfigVersion | undefined> {
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': 'config' },
        ScanIndexForward: false,
        Limit: 1,
        ConsistentRead: consistent,
      }),
    );
    const item = out.Items?.[0];
    return item ? configVersionOf(item) : undefined;
  }

  async configVersion(version: number): Promise<ConfigVersion | undefined> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: 'config', sk: configSk(version) } }),
    );
    return out.Item ? configVersionOf(out.Item) : undefined;
  }

  async listConfigVersions(limit: number): Promise<Array<Omit<ConfigVersion, 'text' | 'json'>>> {
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': 'config' },
        ProjectionExpression: 'version, savedAt, #by, baseHash',
        ExpressionAttributeNames: { '#by': 'by' },
        ScanIndexForward: false,
        Limit: limit,
      }),
    );
    return (out.Items ?? []).map((i) => ({
      version: Number(i.version),
      savedAt: String(i.savedAt),
      by: String(i.by),
      ...(typeof i.baseHash === 'string' ? { baseHash: i.baseHash } : {}),
    }));
  }

  async putConfigVersion(v: ConfigVersion): Promise<boolean> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { pk: 'config', sk: configSk(v.version), ...v },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  // ---- delivered content (skip_duplicate_content) --------------------------------------------------------

  /** The delivery (pk) that brought this content to the destination first, if any. */
  async contentDelivered(destination: string, contentId: string): Promise<string | undefined> {
    const out = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: `content#${destination}#${contentId}`, sk: 'delivered' },
      }),
    );
    return typeof out.Item?.objectPk === 'string' ? out.Item.objectPk : undefined;
  }

  /** Remembers the first delivery of this content to the destination (later ones do not replace it). */
  async rememberContent(destination: string, contentId: string, objectPk: string): Promise<void> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { pk: `content#${destination}#${contentId}`, sk: 'delivered', objectPk, at: this.iso() },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
    }
  }

  // ---- per-destination cache -------------------------------------------------------------------------

  async cacheGet(destination: string, key: string): Promise<JsonObject | undefined> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: `cache#${destination}#${key}`, sk: 'value' } }),
    );
    const item = out.Item as { value?: JsonObject; expiresAt?: number } | undefined;
    if (!item?.value) return undefined;
    if (item.expiresAt !== undefined && item.expiresAt * 1000 < this.now()) return undefined;
    return item.value;
  }

  async cachePut(destination: string, key: string, value: JsonObject, ttlSeconds?: number): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          pk: `cache#${destination}#${key}`,
          sk: 'value',
          value,
          updatedAt: this.iso(),
          ...(ttlSeconds ? { expiresAt: Math.floor(this.now() / 1000) + ttlSeconds } : {}),
        },
      }),
    );
  }

  async cacheDelete(destination: string, key: string): Promise<void> {
    await this.doc.send(
      new DeleteCommand({
        TableName: this.tableName,
        Key: { pk: `cache#${destination}#${key}`, sk: 'value' },
      }),
    );
  }

  // ---- shared rate limit -----------------------------------------------------------------------------

  /**
   * Takes one token from a bucket shared by every forwarder and poller (GCRA on one item). One conditional
   * write when this process's view of the bucket is current; a stale view costs one more round trip.
   */
  /**
   * One take at a time per bucket in this process: callers of one Lambda instance (or of the local stack) wait
   * for each other instead of racing the same item with the same stale TAT.
   */
  private readonly taking = new Map<string, Promise<unknown>>();

  takeToken(
    bucketId: string,
    limit: RateLimit,
    n = 1,
  ): Promise<{ ok: true } | { ok: false; retryInMs: number }> {
    const before = this.taking.get(bucketId) ?? Promise.resolve();
    const mine = before.then(() => this.takeTokenNow(bucketId, limit, n));
    const settled = mine.catch(() => undefined);
    this.taking.set(bucketId, settled);
    void settled.then(() => {
      if (this.taking.get(bucketId) === settled) this.taking.delete(bucketId);
    });
    return mine;
  }

  private async takeTokenNow(
    bucketId: string,
    limit: RateLimit,
    n: number,
  ): Promise<{ ok: true } | { ok: false; retryInMs: number }> {
    const key = { pk: `ratelimit#${bucketId}`, sk: 'bucket' };
    for (let round = 0; round < 20; round++) {
      let known = this.tats.get(bucketId);
      if (known === undefined) {
        const out = await this.doc.send(
          new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }),
        );
        known = typeof out.Item?.tat === 'number' ? out.Item.tat : null;
        this.tats.set(bucketId, known);
      }
      const now = this.now();
      const decision = gcra(limit, known ?? undefined, now, n);
      if (!decision.allowed) return { ok: false, retryInMs: decision.retryInMs };
      const input: UpdateCommandInput = {
        TableName: this.tableName,
        Key: key,
        UpdateExpression: 'SET tat = :new, expiresAt = :ttl',
        ConditionExpression: known === null ? 'attribute_not_exists(tat)' : 'tat = :old',
        ExpressionAttributeValues: {
          ':new': decision.newTat,
          ':ttl': Math.floor(now / 1000) + 86_400,
          ...(known === null ? {} : { ':old': known }),
        },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      };
      try {
        await this.doc.send(new UpdateCommand(input));
        this.tats.set(bucketId, decision.newTat);
        return { ok: true };
      } catch (err) {
        if (!isConditionFailure(err)) throw err;
        const current = err.Item ? unmarshallLoose<{ tat?: number }>(err.Item).tat : undefined;
        if (typeof current === 'number') this.tats.set(bucketId, current);
        else this.tats.delete(bucketId);
      }
    }
    return { ok: false, retryInMs: 50 };
  }

  /** A conditional update: true when it was applied, false when its condition did not hold. */
  private updateIf(input: UpdateCommandInput): Promise<boolean> {
    return updateIf(this.doc, input);
  }

  /** Adds the index attributes a new record carries (see indexFor). */
  private indexed(rec: DeliveryRecord): Record<string, unknown> {
    const failed = FAILURE.includes(rec.status);
    return {
      ...rec,
      nextCheckAt: rec.nextCheckAt ?? rec.updatedAt,
      due: rec.destination && isDue(rec.status) ? `${rec.destination}#${rec.status}` : undefined,
      outcome: failed
        ? rec.destination
          ? `${rec.destination}#${rec.status}`
          : UNROUTED_PARTITION
        : undefined,
      settledAt: failed ? rec.updatedAt : undefined,
    };
  }
}

/**
 * Items arrive from conditional-check failures in the low-level attribute-value form. The document client
 * unmarshalls normal responses; this does the rest.
 */
/** A stored delivery item (document or raw attribute-value form) as a record (delivery.ts fromItem). */
function asRecord(item: Record<string, unknown>): DeliveryRecord {
  return fromItem(unmarshallLoose<DeliveryRecord>(item));
}

function unmarshallLoose<T = DeliveryRecord>(item: Record<string, unknown>): T {
  const first = Object.values(item)[0];
  const isRaw =
    first !== null &&
    typeof first === 'object' &&
    !Array.isArray(first) &&
    Object.keys(first).length === 1 &&
    ['S', 'N', 'BOOL', 'M', 'L', 'NULL', 'SS', 'NS', 'B'].includes(Object.keys(first)[0] as string);
  if (!isRaw) return item as T;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(item)) out[k] = fromAttr(v as Record<string, unknown>);
  return out as T;
}

function fromAttr(v: Record<string, unknown>): unknown {
  if ('S' in v) return v.S;
  if ('N' in v) return Number(v.N);
  if ('BOOL' in v) return v.BOOL;
  if ('NULL' in v) return null;
  if ('L' in v) return (v.L as Record<string, unknown>[]).map(fromAttr);
  if ('M' in v) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v.M as Record<string, Record<string, unknown>>)) out[k] = fromAttr(x);
    return out;
  }
  if ('SS' in v) return v.SS;
  if ('NS' in v) return (v.NS as string[]).map(Number);
  return undefined;
}

/** The partition of the destinations the poller has seen configured (StatusTable.knownDestinations). */
const KNOWN_DESTINATIONS = 'relay#destinations';

// ---- ops counters (the stream aggregator's items) ----------------------------------------------------------

/** Per-minute bucket items live this long (the TTL attribute): /v1/status reads the last hour. */
export const MINUTE_TTL_SECONDS = 2 * 3600;

const countersPk = (target: string) =>
  target === UNROUTED_TARGET ? 'stats#unrouted' : `stats#destination#${target}`;
const streamPk = (stream: string) => `stats#stream#${stream}`;
const COUNTERS_SK = 'counters';
const minuteSk = (minute: string) => `minute#${minute}`;

/**
 * The counters the stream aggregator keeps in the status table, and their reads. Every write is one UpdateItem
 * with ADD and the batch marker (`batch`): an item that already took this batch (a whole-batch retry after a
 * partial failure) refuses it by its condition, so that retry counts nothing twice.
 */
export class OpsCounters {
  /** Read capacity units consumed by this instance's reads (ReturnConsumedCapacity), for the bench. */
  readUnits = 0;

  constructor(
    private readonly doc: DocumentClient,
    readonly tableName: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** Writes one batch's deltas; answers how many items were updated and how many had taken the batch. */
  async apply(deltas: BatchDeltas): Promise<{ written: number; skipped: number }> {
    const writes: UpdateCommandInput[] = [];
    const nowIso = new Date(this.now()).toISOString();
    for (const d of deltas.destinations) {
      const u = new Update().set('updatedAt', nowIso).set('batch', deltas.batchId);
      const adds: string[] = [];
      for (const [status, n] of Object.entries(d.counts)) {
        u.names[`#n_${status}`] = `n_${status}`;
        u.values[`:n_${status}`] = n;
        adds.push(`#n_${status} :n_${status}`);
      }
      if (d.lastSuccess) u.set('lastSuccess', d.lastSuccess);
      if (d.lastError) u.set('lastError', d.lastError);
      if (d.lastAt) u.set('lastAt', d.lastAt);
      writes.push(this.counterWrite(countersPk(d.target), COUNTERS_SK, u, adds, deltas.batchId));
      for (const [minute, m] of Object.entries(d.minutes)) {
        const mu = new Update()
          .set('batch', deltas.batchId)
          .set(TABLE.ttlAttribute, Math.floor(Date.parse(`${minute}:00Z`) / 1000) + MINUTE_TTL_SECONDS);
        mu.values[':d'] = m.delivered;
        mu.values[':f'] = m.failed;
        writes.push(
          this.counterWrite(
            countersPk(d.target),
            minuteSk(minute),
            mu,
            ['delivered :d', 'failed :f'],
            deltas.batchId,
          ),
        );
      }
    }
    for (const s of deltas.streams) {
      const u = new Update().set('updatedAt', nowIso).set('batch', deltas.batchId);
      const adds: string[] = [];
      if (s.lastObjectAt) u.set('lastObjectAt', s.lastObjectAt);
      if (s.lastDeliveredAt) u.set('lastDeliveredAt', s.lastDeliveredAt);
      if (s.lastLateSidecar) u.set('lastLateSidecar', s.lastLateSidecar);
      if (s.lateSidecars > 0) {
        u.values[':late'] = s.lateSidecars;
        adds.push('lateSidecars :late');
      }
      writes.push(this.counterWrite(streamPk(s.stream), COUNTERS_SK, u, adds, deltas.batchId));
    }
    const applied = await Promise.all(writes.map((w) => updateIf(this.doc, w)));
    const written = applied.filter(Boolean).length;
    return { written, skipped: applied.length - written };
  }

  private counterWrite(
    pk: string,
    sk: string,
    u: Update,
    adds: string[],
    batchId: string,
  ): UpdateCommandInput {
    return {
      TableName: this.tableName,
      Key: { pk, sk },
      UpdateExpression: [u.expression(), adds.length ? `ADD ${adds.join(', ')}` : '']
        .filter(Boolean)
        .join(' '),
      ConditionExpression: 'attribute_not_exists(#batch) OR #batch <> :batch',
      ExpressionAttributeNames: u.names,
      ExpressionAttributeValues: { ...u.values, ':batch': batchId },
    };
  }

  private count(out: { ConsumedCapacity?: { CapacityUnits?: number } | Array<{ CapacityUnits?: number }> }) {
    const cc = out.ConsumedCapacity;
    for (const c of Array.isArray(cc) ? cc : cc ? [cc] : []) this.readUnits += c.CapacityUnits ?? 0;
  }

  private async getMany(
    keys: Array<{ pk: string; sk: string }>,
  ): Promise<Map<string, Record<string, unknown>>> {
    const found = new Map<string, Record<string, unknown>>();
    for (let i = 0; i < keys.length; i += 100) {
      let request: Record<string, { Keys: Array<Record<string, unknown>> }> | undefined = {
        [this.tableName]: { Keys: keys.slice(i, i + 100) },
      };
      for (let round = 0; request && round < 10; round++) {
        const out: BatchGetCommandOutput = await this.doc.send(
          new BatchGetCommand({ RequestItems: request, ReturnConsumedCapacity: 'TOTAL' }),
        );
        this.count(out);
        for (const item of out.Responses?.[this.tableName] ?? []) found.set(String(item.pk), item);
        const rest: Array<Record<string, unknown>> | undefined = out.UnprocessedKeys?.[this.tableName]?.Keys;
        request = rest?.length ? { [this.tableName]: { Keys: rest } } : undefined;
      }
    }
    return found;
  }

  /** Counters of these destinations (and UNROUTED_TARGET), with their per-minute buckets of the last `minutes`. */
  async destinations(targets: readonly string[], minutes = 60): Promise<Map<string, DestinationCounters>> {
    const items = await this.getMany(targets.map((t) => ({ pk: countersPk(t), sk: COUNTERS_SK })));
    const from = minuteSk(new Date(this.now() - minutes * 60_000).toISOString().slice(0, 16));
    const to = minuteSk(new Date(this.now()).toISOString().slice(0, 16));
    const out = new Map<string, DestinationCounters>();
    await Promise.all(
      targets.map(async (target) => {
        const item = items.get(countersPk(target)) ?? {};
        const counts: Partial<Record<DeliveryStatus, number>> = {};
        for (const [k, v] of Object.entries(item))
          if (k.startsWith('n_') && typeof v === 'number' && v !== 0)
            counts[k.slice(2) as DeliveryStatus] = v;
        const perMinute: DestinationCounters['perMinute'] = [];
        if (target !== UNROUTED_TARGET) {
          const q = await this.doc.send(
            new QueryCommand({
              TableName: this.tableName,
              KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
              ExpressionAttributeValues: { ':pk': countersPk(target), ':from': from, ':to': to },
              ReturnConsumedCapacity: 'TOTAL',
            }),
          );
          this.count(q);
          for (const m of q.Items ?? [])
            perMinute.push({
              minute: String(m.sk).slice('minute#'.length),
              delivered: Number(m.delivered ?? 0),
              failed: Number(m.failed ?? 0),
            });
        }
        out.set(target, {
          target,
          counts,
          perMinute,
          ...(item.lastSuccess ? { lastSuccess: item.lastSuccess as WhereWhen } : {}),
          ...(item.lastError ? { lastError: item.lastError as ErrorAt } : {}),
          ...(typeof item.lastAt === 'string' ? { lastAt: item.lastAt } : {}),
        });
      }),
    );
    return out;
  }

  /** The counters of these streams (`asset:stream_type`). */
  async streams(ids: readonly string[]): Promise<Map<string, StreamCounters>> {
    const items = await this.getMany(ids.map((id) => ({ pk: streamPk(id), sk: COUNTERS_SK })));
    return new Map(
      ids.map((stream) => {
        const item = items.get(streamPk(stream)) ?? {};
        const s: StreamCounters = { stream, lateSidecars: Number(item.lateSidecars ?? 0) };
        if (typeof item.lastObjectAt === 'string') s.lastObjectAt = item.lastObjectAt;
        if (typeof item.lastDeliveredAt === 'string') s.lastDeliveredAt = item.lastDeliveredAt;
        if (item.lastLateSidecar) s.lastLateSidecar = item.lastLateSidecar as WhereWhen;
        return [stream, s];
      }),
    );
  }

  /**
   * The earliest due time among a destination's deliveries that still wait on someone (index byDue: one
   * Limit-1 query per due status, the index's sort key `nextCheckAt`), or undefined when none waits.
   */
  async earliestDue(destination: string): Promise<string | undefined> {
    const idx = TABLE.indexes.byDue;
    const firsts = await Promise.all(
      DUE.map(async (status) => {
        const out = await this.doc.send(
          new QueryCommand({
            TableName: this.tableName,
            IndexName: idx.name,
            KeyConditionExpression: '#p = :p',
            ExpressionAttributeNames: { '#p': idx.partitionKey, '#s': idx.sortKey },
            ExpressionAttributeValues: { ':p': `${destination}#${status}` },
            ProjectionExpression: '#s',
            Limit: 1,
            ReturnConsumedCapacity: 'TOTAL',
          }),
        );
        this.count(out);
        const v = out.Items?.[0]?.[idx.sortKey];
        return typeof v === 'string' ? v : undefined;
      }),
    );
    return firsts.filter((f): f is string => f !== undefined).sort()[0];
  }
}
