import { Duration } from 'aws-cdk-lib';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Schedule, ScheduleExpression } from 'aws-cdk-lib/aws-scheduler';
import { LambdaInvoke } from 'aws-cdk-lib/aws-scheduler-targets';
import { Construct } from 'constructs';
import { POLL_RATE } from '../defaults.ts';

export interface PollScheduleProps {
  readonly target: IFunction;
  readonly description: string;
}

/**
 * An EventBridge Scheduler schedule invoking a function every minute (Scheduler's minimum rate). A missed
 * tick is not retried: the next one comes a minute later and a late poll would only overlap it.
 */
export class PollSchedule extends Construct {
  public readonly schedule: Schedule;

  constructor(scope: Construct, id: string, props: PollScheduleProps) {
    super(scope, id);
    this.schedule = new Schedule(this, 'Schedule', {
      schedule: ScheduleExpression.rate(POLL_RATE),
      description: props.description,
      target: new LambdaInvoke(props.target, { retryAttempts: 0, maxEventAge: Duration.minutes(1) }),
    });
  }
}
