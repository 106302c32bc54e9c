/**
 * SQS adapter: puts delivery messages on vendor queues and reschedules failed messages (per-message backoff
 * through ChangeMessageVisibility, as Lambda's SQS integration has no per-message delay of its own).
 */
import { ChangeMessageVisibilityCommand, SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';

export const MAX_VISIBILITY_SECONDS = 43_200;

export class Queues {
  constructor(private readonly sqs: SQSClient = new SQSClient({})) {}

  /** Sends bodies in batches of 10 (the SQS maximum); throws if any entry failed, naming them. */
  async sendAll(queueUrl: string, bodies: Array<{ id: string; body: string }>): Promise<void> {
    for (let i = 0; i < bodies.length; i += 10) {
      const chunk = bodies.slice(i, i + 10);
      const out = await this.sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: chunk.map((b, n) => ({ Id: `m${n}`, MessageBody: b.body })),
        }),
      );
      if (out.Failed && out.Failed.length > 0) {
        const names = out.Failed.map(
          (f) => `${chunk[Number(f.Id?.slice(1))]?.id}: ${f.Code} ${f.Message ?? ''}`,
        );
        throw new Error(`SQS refused ${out.Failed.length} message(s): ${names.join('; ')}`);
      }
    }
  }

  /** Makes a received message visible again after `delayMs` (clamped to SQS's 0..12 h). */
  async retryLater(queueUrl: string, receiptHandle: string, delayMs: number): Promise<void> {
    const seconds = Math.min(MAX_VISIBILITY_SECONDS, Math.max(0, Math.ceil(delayMs / 1000)));
    await this.sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: queueUrl,
        ReceiptHandle: receiptHandle,
        VisibilityTimeout: seconds,
      }),
    );
  }
}

/** The queue URL of a queue given its ARN (as Lambda's SQS records carry `eventSourceARN`). */
export function queueUrlFromArn(arn: string, endpoint?: string): string {
  const [, , , region, account, name] = arn.split(':');
  if (endpoint) return `${endpoint.replace(/\/$/, '')}/${account}/${name}`;
  return `https://sqs.${region}.amazonaws.com/${account}/${name}`;
}
