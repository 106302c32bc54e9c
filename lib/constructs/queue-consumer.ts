import type { Duration } from 'aws-cdk-lib';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { MAX_CONCURRENCY_RANGE, visibilityTimeoutFor } from '../defaults.ts';
import { QueueWithDlq } from './queue-with-dlq.ts';

export interface QueueConsumerProps {
  /** The consuming function. */
  readonly consumer: IFunction;
  /** The consumer's timeout: the queue's visibility timeout is derived from it. */
  readonly consumerTimeout: Duration;
  readonly maxReceiveCount: number;
  readonly batchSize: number;
  readonly maxBatchingWindow?: Duration;
  /** Most concurrent invocations the event source starts (2..1000). */
  readonly maxConcurrency: number;
}

/**
 * A queue + DLQ consumed by a function (the aws-solutions-constructs `SqsToLambda` shape): partial batch
 * responses on, visibility timeout ≥ 6 × the function timeout + the batching window, bounded concurrency.
 */
export class QueueConsumer extends Construct {
  public readonly queues: QueueWithDlq;
  public readonly queue: Queue;
  public readonly deadLetterQueue: Queue;
  public readonly eventSource: SqsEventSource;

  constructor(scope: Construct, id: string, props: QueueConsumerProps) {
    super(scope, id);
    const { min, max } = MAX_CONCURRENCY_RANGE;
    if (!Number.isInteger(props.maxConcurrency) || props.maxConcurrency < min || props.maxConcurrency > max)
      throw new Error(`maxConcurrency must be an integer in ${min}..${max}, got ${props.maxConcurrency}`);
    if (props.batchSize > 10 && (props.maxBatchingWindow?.toSeconds() ?? 0) < 1)
      throw new Error('a batch size above 10 needs a batching window of at least 1 second');

    this.queues = new QueueWithDlq(this, 'Queues', {
      visibilityTimeout: visibilityTimeoutFor(props.consumerTimeout, props.maxBatchingWindow),
      maxReceiveCount: props.maxReceiveCount,
    });
    this.queue = this.queues.queue;
    this.deadLetterQueue = this.queues.deadLetterQueue;
    this.eventSource = new SqsEventSource(this.queue, {
      batchSize: props.batchSize,
      maxBatchingWindow: props.maxBatchingWindow,
      reportBatchItemFailures: true,
      maxConcurrency: props.maxConcurrency,
    });
    props.consumer.addEventSource(this.eventSource);
  }
}
