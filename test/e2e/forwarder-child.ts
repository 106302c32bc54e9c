/**
 * A forwarder Lambda in its own process, so that a test can kill it (SIGKILL) in the middle of a send.
 * Input: the SQS event as JSON in FORWARDER_EVENT, the DLQ in FORWARDER_DLQ, the function timeout in
 * FORWARDER_TIMEOUT_MS; the rest of the environment is the local stack's.
 */
import { createForwarderHandler } from '#handlers/forwarder.ts';
import { createLambdaContext } from '#local/lambda-context.ts';

const event = JSON.parse(process.env.FORWARDER_EVENT ?? '{}');
const handler = createForwarderHandler('instrumental', { deadLetterUrl: process.env.FORWARDER_DLQ ?? '' });
const context = createLambdaContext({
  functionName: 'forwarder-child',
  timeoutMs: Number(process.env.FORWARDER_TIMEOUT_MS ?? 3000),
});
process.stdout.write('child: invoking\n');
const result = await handler(event, context);
process.stdout.write(`child: done ${JSON.stringify(result)}\n`);
