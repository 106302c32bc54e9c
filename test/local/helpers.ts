/** Small helpers shared by the local stack's tests. */
import { type Message, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { createLocalClients, type LocalClients } from '../../local/clients.ts';
import { type Emulators, startEmulators } from '../../local/emulators.ts';

/** Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 120_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Receives (and leaves in flight) messages until `count` arrived; fails after `timeoutMs`. */
export async function receiveN(
  sqs: SQSClient,
  queueUrl: string,
  count: number,
  timeoutMs = 120_000,
): Promise<Message[]> {
  const got: Message[] = [];
  const deadline = Date.now() + timeoutMs;
  while (got.length < count) {
    if (Date.now() > deadline) throw new Error(`timed out: ${got.length}/${count} messages from ${queueUrl}`);
    const out = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
        VisibilityTimeout: 60,
        MessageSystemAttributeNames: ['All'],
      }),
    );
    got.push(...(out.Messages ?? []));
  }
  return got;
}

/** Receives whatever arrives within `ms` (to prove that nothing more comes). */
export async function receiveFor(sqs: SQSClient, queueUrl: string, ms: number): Promise<Message[]> {
  const got: Message[] = [];
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const out = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
        VisibilityTimeout: 60,
      }),
    );
    got.push(...(out.Messages ?? []));
    await new Promise((r) => setTimeout(r, 50));
  }
  return got;
}

export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** fauxqs (S3 + SQS) and the Secrets Manager emulator, no DynamoDB, with SDK clients on them. */
export async function startLocalS3(): Promise<{ emu: Emulators; clients: LocalClients }> {
  const emu = await startEmulators({ dynamodb: false });
  const clients = createLocalClients({
    s3: emu.s3Endpoint,
    sqs: emu.sqsEndpoint,
    secretsManager: emu.secretsEndpoint,
  });
  return { emu, clients };
}
