/**
 * A local stack with the real handlers in its own process, driven over IPC by test/local/persistence.test.ts:
 * the handler modules keep per-process state (clients on the endpoints they were first given, caches), so a
 * restart is only a real restart in a new process — as it is for `npm start`.
 *
 * Input: STACK_OPTIONS (JSON: LocalStackOptions' serialisable part). Messages from the parent:
 * `{cmd: 'stopRunner'}` (no more invocations; the emulators stay up) → `{stoppedRunner: true}`;
 * `{cmd: 'stop'}` → stops everything, `{stopped: true}`, exit 0. Answers `{ready: StackInfo}` once up, or
 * `{failed: message}`.
 */
import { type LocalStackOptions, startLocalStack } from '#local/stack.ts';

export interface StackInfo {
  pid: number;
  region: string;
  endpoints: { s3: string; sqs: string; dynamodb: string; secretsManager: string };
  tableName: string;
  buckets: { ingest: string; results: string };
  ingestQueue: { url: string; dlq: string };
  apiUrl: string;
  dataDir: string | undefined;
  dynamodbPid: number | undefined;
  resourceChanges: { existing: string[]; updated: string[] };
}

export type ChildMessage =
  | { ready: StackInfo }
  | { failed: string }
  | { stoppedRunner: true }
  | { stopped: true };

const send = (m: ChildMessage) => process.send?.(m);
const options = JSON.parse(process.env.STACK_OPTIONS ?? '{}') as LocalStackOptions;

try {
  const stack = await startLocalStack(options);
  process.on('message', (m: { cmd?: string }) => {
    if (m.cmd === 'stopRunner') void stack.runner.stop().then(() => send({ stoppedRunner: true }));
    if (m.cmd === 'stop')
      void stack.stop().then(() => {
        send({ stopped: true });
        process.disconnect();
      });
  });
  // Parent gone (test failed or was killed): stop like Ctrl-C would.
  process.on('disconnect', () => void stack.stop());
  send({
    ready: {
      pid: process.pid,
      region: stack.region,
      endpoints: {
        s3: stack.endpoints.s3,
        sqs: stack.endpoints.sqs,
        dynamodb: stack.endpoints.dynamodb!,
        secretsManager: stack.endpoints.secretsManager,
      },
      tableName: stack.tableName,
      buckets: stack.buckets,
      ingestQueue: { url: stack.queues.ingest.url, dlq: stack.queues.ingest.dlq.url },
      apiUrl: stack.apiUrl,
      dataDir: stack.dataDir,
      dynamodbPid: stack.emulators.dynamodbPid,
      resourceChanges: stack.resourceChanges,
    },
  });
} catch (err) {
  send({ failed: (err as Error).message });
  process.disconnect();
}
