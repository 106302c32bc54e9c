/**
 * SQS adapter: puts delivery messages on vendor queues and reschedules failed messages (per-message backoff
 * through ChangeMessageVisibility, as Lambda's SQS integration has no per-message delay of its own).
 */
import type {
  GetQueueAttributesCommandOutput,
  ReceiveMessageCommandOutput,
  SendMessageBatchCommandOutput,
} from '@aws-sdk/client-sqs';
import { chunksOf } from '#commons/chunks.ts';
import { queueDelaySeconds } from '#domain/backoff.ts';
import { MAX_MESSAGE_BYTES, MAX_VISIBILITY_SECONDS } from '#domain/delivery.ts';
import type { QueueMessage } from '#domain/ops/types.ts';
import { AwsTransport, type TransportOptions } from './aws/transport.ts';

/**
 * SQS's JSON protocol (awsJson1_0, `AmazonSQS.<Operation>`), to the regional endpoint (the host of every queue
 * URL of the region) or the configured one (the local emulator).
 */
export class SQSClient {
  readonly transport: AwsTransport;
  constructor(opts: TransportOptions = {}) {
    this.transport = new AwsTransport('sqs', opts);
  }
  call<T>(operation: string, input: Record<string, unknown>): Promise<T> {
    return this.transport.json<T>(`AmazonSQS.${operation}`, '1.0', input);
  }
  destroy(): void {
    this.transport.destroy();
  }
}

/** Splits bodies into SendMessageBatch calls: at most 10 entries and MAX_MESSAGE_BYTES of bodies each. */
export function sendBatches<T extends { body: string }>(bodies: readonly T[]): T[][] {
  return chunksOf(bodies, 10, MAX_MESSAGE_BYTES, (b) => Buffer.byteLength(b.body));
}

/** Re-exported for the adapter's callers and tests; the constant lives with the queue's other limits. */
export { MAX_VISIBILITY_SECONDS };

export class Queues {
  constructor(private readonly sqs: SQSClient = new SQSClient({})) {}

  /**
   * Sends bodies in batches of at most 10 messages and MAX_MESSAGE_BYTES in all (both SQS maximums: ten 30 KB
   * messages in one call were refused whole); throws if any entry failed, naming them.
   */
  async sendAll(
    queueUrl: string,
    bodies: Array<{ id: string; body: string; delaySeconds?: number }>,
  ): Promise<void> {
    for (const chunk of sendBatches(bodies)) {
      const out = await this.sqs.call<SendMessageBatchCommandOutput>('SendMessageBatch', {
        QueueUrl: queueUrl,
        Entries: chunk.map((b, n) => ({
          Id: `m${n}`,
          MessageBody: b.body,
          ...(b.delaySeconds ? { DelaySeconds: b.delaySeconds } : {}),
        })),
      });
      if (out.Failed && out.Failed.length > 0) {
        const names = out.Failed.map(
          (f) => `${chunk[Number(f.Id?.slice(1))]?.id}: ${f.Code} ${f.Message ?? ''}`,
        );
        throw new Error(`SQS refused ${out.Failed.length} message(s): ${names.join('; ')}`);
      }
    }
  }

  /**
   * Makes a received message visible again after `delayMs`: whole seconds rounded up, clamped to
   * 0..MAX_VISIBILITY_SECONDS (queueDelaySeconds, which the forwarder also uses for the time it records).
   */
  async retryLater(queueUrl: string, receiptHandle: string, delayMs: number): Promise<void> {
    const seconds = queueDelaySeconds(delayMs);
    await this.sqs.call('ChangeMessageVisibility', {
      QueueUrl: queueUrl,
      ReceiptHandle: receiptHandle,
      VisibilityTimeout: seconds,
    });
  }
}

/** What ops do with queues: depth, a peek at the dead letters, moving them back (lambdas/domain/ops). */
export class OpsQueueAccess {
  constructor(
    private readonly queues: Queues,
    private readonly sqs: SQSClient,
  ) {}

  send(
    queueUrl: string,
    messages: Array<{ id: string; body: string; delaySeconds?: number }>,
  ): Promise<void> {
    return this.queues.sendAll(queueUrl, messages);
  }

  async depth(queueUrl: string): Promise<number> {
    const out = await this.sqs.call<GetQueueAttributesCommandOutput>('GetQueueAttributes', {
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    });
    const a = out.Attributes ?? {};
    return Number(a.ApproximateNumberOfMessages ?? 0) + Number(a.ApproximateNumberOfMessagesNotVisible ?? 0);
  }

  async receive(queueUrl: string, max: number, visibilitySeconds: number): Promise<QueueMessage[]> {
    const out = await this.sqs.call<ReceiveMessageCommandOutput>('ReceiveMessage', {
      QueueUrl: queueUrl,
      MaxNumberOfMessages: Math.min(10, Math.max(1, max)),
      VisibilityTimeout: visibilitySeconds,
      WaitTimeSeconds: 0,
      MessageSystemAttributeNames: ['SentTimestamp', 'ApproximateReceiveCount'],
      MessageAttributeNames: ['All'],
    });
    return (out.Messages ?? []).flatMap((m) =>
      m.MessageId && m.ReceiptHandle
        ? [
            {
              messageId: m.MessageId,
              receiptHandle: m.ReceiptHandle,
              body: m.Body ?? '',
              ...(m.Attributes?.SentTimestamp
                ? { sentAt: new Date(Number(m.Attributes.SentTimestamp)).toISOString() }
                : {}),
              ...(m.Attributes?.ApproximateReceiveCount
                ? { receiveCount: Number(m.Attributes.ApproximateReceiveCount) }
                : {}),
              ...(m.MessageAttributes?.reason?.StringValue
                ? { reason: m.MessageAttributes.reason.StringValue }
                : {}),
            },
          ]
        : [],
    );
  }

  release(queueUrl: string, receiptHandle: string): Promise<void> {
    return this.queues.retryLater(queueUrl, receiptHandle, 0);
  }

  async delete(queueUrl: string, receiptHandle: string): Promise<void> {
    await this.sqs.call('DeleteMessage', { QueueUrl: queueUrl, ReceiptHandle: receiptHandle });
  }
}

/** The queue URL of a queue given its ARN (as Lambda's SQS records carry `eventSourceARN`). */
export function queueUrlFromArn(arn: string, endpoint?: string): string {
  const [, , , region, account, name] = arn.split(':');
  if (endpoint) return `${endpoint.replace(/\/$/, '')}/${account}/${name}`;
  return `https://sqs.${region}.amazonaws.com/${account}/${name}`;
}
