import type { Duration } from 'aws-cdk-lib';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { queueDefaults } from '../defaults.ts';

export interface QueueWithDlqProps {
  /** How long a received message stays invisible (≥ 6 × the consumer's timeout, see defaults.ts). */
  readonly visibilityTimeout: Duration;
  /** Receives before a message moves to the dead-letter queue. */
  readonly maxReceiveCount: number;
}

/** A queue and its dead-letter queue, both with the relay's queue defaults. */
export class QueueWithDlq extends Construct {
  public readonly queue: Queue;
  public readonly deadLetterQueue: Queue;
  public readonly maxReceiveCount: number;

  constructor(scope: Construct, id: string, props: QueueWithDlqProps) {
    super(scope, id);
    if (!Number.isInteger(props.maxReceiveCount) || props.maxReceiveCount < 1 || props.maxReceiveCount > 1000)
      throw new Error(`maxReceiveCount must be an integer in 1..1000, got ${props.maxReceiveCount}`);
    this.maxReceiveCount = props.maxReceiveCount;
    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', queueDefaults());
    this.queue = new Queue(this, 'Queue', {
      ...queueDefaults(),
      visibilityTimeout: props.visibilityTimeout,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceiveCount },
    });
  }
}
