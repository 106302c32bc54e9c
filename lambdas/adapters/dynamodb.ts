/**
 * DynamoDB adapter: delivery records, destination state and the shared rate-limit buckets, all in the one
 * status table (lambdas/commons/table.ts). Every state change is a conditional write, so duplicate S3 events,
 * SQS redeliveries and concurrent forwarders never move a delivery twice.
 */
import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { TABLE } from '#commons/table.ts';
import type { DeliveryKey, DeliveryRecord, HistoryEntry, NewDelivery } from '#domain/delivery.ts';
import { gcra, type RateLimit } from '#domain/rate-limit.ts';
import { type DeliveryStatus, isPollable, type RecordedError, SENDABLE } from '#domain/status.ts';
import type { JsonObject } from '#vendors/types.ts';

export function createDocumentClient(client = new DynamoDBClient({})): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true, convertEmptyValues: false },
  });
}

export type ClaimResult =
  | { kind: 'claimed'; record: DeliveryRecord }
  | { kind: 'busy'; record: DeliveryRecord; leaseRemainingMs: number }
  | { kind: 'settled'; record: DeliveryRecord }
  | { kind: 'missing' };

export interface FinishUpdate {
  status: DeliveryStatus;
  vendorRef?: string;
  error?: RecordedError;
  /** When the poller should look next (pollable statuses) or when the next send is due (RETRYING). */
  nextCheckAt?: string;
  detail?: JsonObject;
}

export interface DestinationState {
  name: string;
  paused: boolean;
  reason?: RecordedError;
  pausedAt?: string;
  /** When a paused destination may send one probe request to see whether its credentials work again. */
  probeAt?: string;
  /** Set by an operator's stop (FactoryTX `/v1/ftx/stop`): no probing, only a start resumes. */
  stoppedByOperator?: boolean;
}

const isConditionFailure = (err: unknown): err is ConditionalCheckFailedException =>
  err instanceof ConditionalCheckFailedException ||
  (err instanceof Error && err.name === 'ConditionalCheckFailedException');

export class StatusTable {
  private readonly tats = new Map<string, number | null>();

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    readonly tableName: string,
    private readonly now: () => number = Date.now,
  ) {}

  private iso(ms = this.now()): string {
    return new Date(ms).toISOString();
  }

  private history(status: DeliveryStatus, code?: string): HistoryEntry[] {
    return [code ? { at: this.iso(), status, code } : { at: this.iso(), status }];
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
      history: this.history(rec.status, rec.lastError?.code),
    };
    const indexed = this.indexed(item);
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
        return { created: false, record: unmarshallLoose(err.Item) };
      }
      if (isConditionFailure(err)) {
        const existing = await this.get(rec);
        if (existing) return { created: false, record: existing };
      }
      throw err;
    }
  }

  /** RECEIVED → QUEUED once the message is on the vendor queue. A no-op if a forwarder got there first. */
  async markQueued(key: DeliveryKey, destination: string): Promise<void> {
    await this.updateIf({
      TableName: this.tableName,
      Key: { pk: key.pk, sk: key.sk },
      UpdateExpression:
        'SET #status = :queued, updatedAt = :now, destinationStatus = :ds, nextCheckAt = :now, #history = list_append(#history, :h)',
      ConditionExpression: '#status = :received',
      ExpressionAttributeNames: { '#status': 'status', '#history': 'history' },
      ExpressionAttributeValues: {
        ':queued': 'QUEUED',
        ':received': 'RECEIVED',
        ':now': this.iso(),
        ':ds': `${destination}#QUEUED`,
        ':h': this.history('QUEUED'),
      },
    });
  }

  // ---- forwarder -------------------------------------------------------------------------------------

  /**
   * Takes the delivery for sending: only from a sendable status, or from SENDING whose lease has expired
   * (the previous forwarder died mid-send). Counts the attempt.
   */
  async claim(key: DeliveryKey, owner: string, leaseMs: number): Promise<ClaimResult> {
    const now = this.now();
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: key.pk, sk: key.sk },
          UpdateExpression:
            'SET #status = :sending, leaseOwner = :owner, leaseExpiresAt = :lease, attempts = attempts + :one, updatedAt = :now, destinationStatus = :ds, nextCheckAt = :now, #history = list_append(#history, :h)',
          ConditionExpression:
            'attribute_exists(pk) AND (#status IN (:s0, :s1, :s2) OR (#status = :sending AND leaseExpiresAt < :nowMs))',
          ExpressionAttributeNames: { '#status': 'status', '#history': 'history' },
          ExpressionAttributeValues: {
            ':sending': 'SENDING',
            ':owner': owner,
            ':lease': now + leaseMs,
            ':one': 1,
            ':now': this.iso(now),
            ':nowMs': now,
            ':s0': SENDABLE[0],
            ':s1': SENDABLE[1],
            ':s2': SENDABLE[2],
            ':ds': `${key.sk.slice('destination#'.length)}#SENDING`,
            ':h': this.history('SENDING'),
          },
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { kind: 'claimed', record: unmarshallLoose(out.Attributes ?? {}) };
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
      if (!err.Item) return { kind: 'missing' };
      const record = unmarshallLoose(err.Item);
      if (record.status === 'SENDING') {
        return { kind: 'busy', record, leaseRemainingMs: Math.max(0, (record.leaseExpiresAt ?? now) - now) };
      }
      return { kind: 'settled', record };
    }
  }

  /** Records the outcome of a send, only while this forwarder still holds the lease. */
  async finish(key: DeliveryKey, owner: string, destination: string, update: FinishUpdate): Promise<boolean> {
    const now = this.iso();
    const names: Record<string, string> = { '#status': 'status', '#history': 'history' };
    const values: Record<string, unknown> = {
      ':status': update.status,
      ':owner': owner,
      ':sending': 'SENDING',
      ':now': now,
      ':ds': `${destination}#${update.status}`,
      ':next': update.nextCheckAt ?? now,
      ':h': this.history(update.status, update.error?.code),
    };
    const sets = [
      '#status = :status',
      'updatedAt = :now',
      'destinationStatus = :ds',
      'nextCheckAt = :next',
      '#history = list_append(#history, :h)',
    ];
    const removes = ['leaseOwner', 'leaseExpiresAt'];
    if (update.vendorRef !== undefined) {
      sets.push('vendorRef = :ref');
      values[':ref'] = update.vendorRef;
    }
    if (update.error) {
      sets.push('lastError = :err');
      values[':err'] = update.error;
    } else if (update.status !== 'RETRYING') {
      removes.push('lastError');
    }
    if (update.detail) {
      sets.push('vendorDetail = :detail');
      values[':detail'] = update.detail;
    }
    if (isPollable(update.status)) {
      sets.push('pollCount = :zero');
      values[':zero'] = 0;
    }
    return this.updateIf({
      TableName: this.tableName,
      Key: { pk: key.pk, sk: key.sk },
      UpdateExpression: `SET ${sets.join(', ')} REMOVE ${removes.join(', ')}`,
      ConditionExpression: '#status = :sending AND leaseOwner = :owner',
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
    });
  }

  /**
   * Marks a delivery that is waiting on its destination (paused or stopped) without claiming it: RETRYING with
   * the reason. Writes only when something changes, so a long pause does not grow the history.
   */
  async hold(
    key: DeliveryKey,
    destination: string,
    reason: RecordedError,
    nextCheckAt: string,
  ): Promise<void> {
    await this.updateIf({
      TableName: this.tableName,
      Key: { pk: key.pk, sk: key.sk },
      UpdateExpression:
        'SET #status = :retrying, lastError = :err, nextCheckAt = :next, updatedAt = :now, destinationStatus = :ds, #history = list_append(#history, :h)',
      ConditionExpression:
        '#status IN (:s0, :s1, :s2) AND (#status <> :retrying OR attribute_not_exists(lastError) OR lastError.code <> :code)',
      ExpressionAttributeNames: { '#status': 'status', '#history': 'history' },
      ExpressionAttributeValues: {
        ':retrying': 'RETRYING',
        ':s0': SENDABLE[0],
        ':s1': SENDABLE[1],
        ':s2': SENDABLE[2],
        ':err': reason,
        ':code': reason.code,
        ':next': nextCheckAt,
        ':now': this.iso(),
        ':ds': `${destination}#RETRYING`,
        ':h': this.history('RETRYING', reason.code),
      },
    });
  }

  /** Gives back an attempt that was not the delivery's fault (a paused destination, no rate-limit token). */
  async refundAttempt(key: DeliveryKey): Promise<void> {
    await this.updateIf({
      TableName: this.tableName,
      Key: { pk: key.pk, sk: key.sk },
      UpdateExpression: 'SET attempts = attempts - :one',
      ConditionExpression: 'attempts > :zero',
      ExpressionAttributeValues: { ':one': 1, ':zero': 0 },
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
    return out.Item ? unmarshallLoose(out.Item) : undefined;
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
    return (out.Items ?? []).map(unmarshallLoose);
  }

  // ---- poller ----------------------------------------------------------------------------------------

  /** Deliveries of one destination in one status whose next check is due: an index query, never a scan. */
  async due(destination: string, status: DeliveryStatus, limit: number): Promise<DeliveryRecord[]> {
    const idx = TABLE.indexes.byDestinationStatus;
    const items: DeliveryRecord[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: idx.name,
          KeyConditionExpression: '#p = :p AND #s <= :now',
          ExpressionAttributeNames: { '#p': idx.partitionKey, '#s': idx.sortKey },
          ExpressionAttributeValues: { ':p': `${destination}#${status}`, ':now': this.iso() },
          Limit: Math.min(limit - items.length, 1000),
          ExclusiveStartKey: startKey,
        }),
      );
      for (const i of out.Items ?? []) items.push(unmarshallLoose(i));
      startKey = out.LastEvaluatedKey;
    } while (startKey && items.length < limit);
    return items;
  }

  /** Applies what a status check found, if nobody moved the delivery meanwhile. */
  async applyCheck(
    rec: DeliveryRecord,
    update: { status: DeliveryStatus; error?: RecordedError; nextCheckAt: string; detail?: JsonObject },
  ): Promise<boolean> {
    const changed = update.status !== rec.status;
    const names: Record<string, string> = { '#status': 'status' };
    const values: Record<string, unknown> = {
      ':status': update.status,
      ':expected': rec.status,
      ':now': this.iso(),
      ':next': update.nextCheckAt,
      ':ds': `${rec.destination}#${update.status}`,
      ':one': 1,
    };
    const sets = [
      '#status = :status',
      'updatedAt = :now',
      'nextCheckAt = :next',
      'destinationStatus = :ds',
      'pollCount = if_not_exists(pollCount, :zero) + :one',
    ];
    values[':zero'] = 0;
    if (changed) {
      names['#history'] = 'history';
      sets.push('#history = list_append(#history, :h)');
      values[':h'] = this.history(update.status, update.error?.code);
    }
    if (update.error) {
      sets.push('lastError = :err');
      values[':err'] = update.error;
    }
    if (update.detail) {
      sets.push('vendorDetail = :detail');
      values[':detail'] = update.detail;
    }
    return this.updateIf({
      TableName: this.tableName,
      Key: { pk: rec.pk, sk: rec.sk },
      UpdateExpression: `SET ${sets.join(', ')}`,
      ConditionExpression: '#status = :expected',
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
    });
  }

  // ---- destinations ----------------------------------------------------------------------------------

  async destinationState(name: string): Promise<DestinationState> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: `destination#${name}`, sk: 'state' } }),
    );
    const item = out.Item as (DestinationState & Record<string, unknown>) | undefined;
    return item ? { ...item, name } : { name, paused: false };
  }

  async pauseDestination(
    name: string,
    reason: RecordedError,
    probeAt: string,
    byOperator = false,
  ): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          pk: `destination#${name}`,
          sk: 'state',
          name,
          paused: true,
          reason,
          pausedAt: this.iso(),
          probeAt,
          stoppedByOperator: byOperator,
        },
      }),
    );
  }

  async resumeDestination(name: string): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { pk: `destination#${name}`, sk: 'state', name, paused: false, resumedAt: this.iso() },
      }),
    );
  }

  // ---- shared rate limit -----------------------------------------------------------------------------

  /**
   * Takes one token from a bucket shared by every forwarder and poller (GCRA on one item). One conditional
   * write when this process's view of the bucket is current; a stale view costs one more round trip.
   */
  async takeToken(
    bucketId: string,
    limit: RateLimit,
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
      const decision = gcra(limit, known ?? undefined, now);
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
  private async updateIf(input: UpdateCommandInput): Promise<boolean> {
    try {
      await this.doc.send(new UpdateCommand(input));
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  /** Adds the index attributes every delivery carries. */
  private indexed(rec: DeliveryRecord): Record<string, unknown> {
    return {
      ...rec,
      destinationStatus: rec.destination ? `${rec.destination}#${rec.status}` : undefined,
      nextCheckAt: rec.nextCheckAt ?? rec.updatedAt,
    };
  }
}

/**
 * Items arrive from conditional-check failures in the low-level attribute-value form. The document client
 * unmarshalls normal responses; this does the rest.
 */
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
