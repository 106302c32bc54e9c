/**
 * A forwarder "Lambda instance" in its own process, so that the fault suite can SIGKILL it in the middle of a
 * send and start a new one, as Lambda does after a crash. The parent sends SQS events over IPC and gets the
 * batch responses back; the child runs the real `createForwarderHandler` with the local stack's environment.
 */
import { createForwarderHandler } from '../../lambdas/handlers/forwarder.ts';
import { guardLoopback } from '../../local/aws-env.ts';
import { createLambdaContext } from '../../local/lambda-context.ts';

interface Invoke {
  id: number;
  event: import('aws-lambda').SQSEvent;
  timeoutMs: number;
}

guardLoopback();
const handler = createForwarderHandler(process.env.FAULTS_VENDOR ?? 'instrumental', {
  deadLetterUrl: process.env.FAULTS_DLQ ?? '',
});

process.on('message', (m: Invoke) => {
  const context = createLambdaContext({ functionName: 'forwarder-process', timeoutMs: m.timeoutMs });
  Promise.resolve(handler(m.event, context)).then(
    (result) => process.send?.({ id: m.id, ok: true, result }),
    (err: unknown) => process.send?.({ id: m.id, ok: false, error: String(err) }),
  );
});
process.send?.({ ready: true });
