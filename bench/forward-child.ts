/**
 * A forwarder "Lambda" alone in its own process, so that its peak RSS is its own (section 3 of the benchmark).
 *
 * Started by bench/memory.ts with the local stack's environment plus:
 *   BENCH_QUEUE_URL / BENCH_QUEUE_ARN  the queue holding the one delivery message to forward
 *   BENCH_DLQ_URL                      the Instrumental dead-letter queue
 *   BENCH_TIMEOUT_MS                   the function timeout (the CDK forwarder's)
 *   BENCH_VENDOR, BENCH_MESSAGES       the forwarder's vendor (default instrumental) and how many messages its
 *                                      one invocation takes (default 1; section 7 sends a batch)
 * It receives the messages, builds the SQSEvent Lambda would, runs `createForwarderHandler(vendor)` with a
 * Lambda-like context, deletes the messages on success (as the event source mapping does), and sends its
 * measurements to the parent over IPC.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { DeleteMessageCommand, type Message, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { guardLoopback } from '#local/aws-env.ts';
import { createLambdaContext } from '#local/lambda-context.ts';
import { toSqsRecord } from '#local/runner.ts';
import { createForwarderHandler } from '../lambdas/handlers/forwarder.ts';
import { runtime } from '../lambdas/handlers/runtime.ts';

export interface ChildReport {
  ok: boolean;
  error?: string;
  /** `process.resourceUsage().maxRSS` (KiB) just before the handler ran: the high-water mark of start-up. */
  maxRssBeforeKiB: number;
  /** `process.resourceUsage().maxRSS` (KiB) after the handler returned (the whole process's high-water mark). */
  maxRssAfterKiB: number;
  /**
   * Peak RSS *during the send* (KiB): the kernel's high-water mark (VmHWM) reset right before the send
   * (Linux: "5" → /proc/self/clear_refs) and read after it. Undefined where that is not possible. (maxRSS
   * cannot be reset reliably: the kernel folds the mark into it whenever a thread exits.)
   */
  sendHwmKiB?: number;
  /** Highest `process.memoryUsage.rss()` seen by a 5 ms sampler during the send (a cross-check). */
  sampledPeakBytes: number;
  /** Highest `process.memoryUsage().arrayBuffers` (Buffers, off the JS heap) seen by the sampler. */
  sampledPeakArrayBuffersBytes: number;
  /** `process.memoryUsage.rss()` (bytes) just before the handler ran, and after. */
  rssBeforeBytes: number;
  rssAfterBytes: number;
  heapUsedBeforeBytes: number;
  heapUsedAfterBytes: number;
  handlerMs: number;
  batchItemFailures: number;
}

/**
 * Resets the kernel's peak-RSS mark (VmHWM) of this process to its current RSS (Linux ≥ 4.0: writing "5" to
 * /proc/self/clear_refs). Answers false where that is not possible.
 */
function resetPeakRss(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return vmHwmKiB() !== undefined;
  } catch {
    return false;
  }
}

/** VmHWM of /proc/self/status (KiB), or undefined. */
function vmHwmKiB(): number | undefined {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

function need(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`forward-child: ${name} is not set`);
  return v;
}

async function main(): Promise<ChildReport> {
  guardLoopback();
  const queueUrl = need('BENCH_QUEUE_URL');
  const queueArn = need('BENCH_QUEUE_ARN');
  const region = process.env.AWS_REGION ?? 'us-east-1';
  const vendor = process.env.BENCH_VENDOR ?? 'instrumental';
  const wanted = Number(process.env.BENCH_MESSAGES ?? 1);
  const handler = createForwarderHandler(vendor, { deadLetterUrl: need('BENCH_DLQ_URL') });
  // A warm container: clients and the validated config exist before the measured invocation.
  runtime();
  const sqs = new SQSClient({});

  const deadline = Date.now() + 30_000;
  const received: Message[] = [];
  while (received.length < wanted && Date.now() < deadline) {
    const out = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: Math.min(10, wanted - received.length),
        WaitTimeSeconds: 1,
        VisibilityTimeout: 900,
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
      }),
    );
    received.push(...(out.Messages ?? []));
  }
  if (received.length < wanted)
    throw new Error(`forward-child: ${received.length} of ${wanted} messages arrived on the queue`);
  const event = { Records: received.map((m) => toSqsRecord(m, queueArn, region)) };
  const context = createLambdaContext({
    functionName: 'bench-forwarder-child',
    timeoutMs: Number(process.env.BENCH_TIMEOUT_MS ?? 120_000),
    region,
  });

  const maxRssBeforeKiB = process.resourceUsage().maxRSS;
  const memBefore = process.memoryUsage();
  const peakReset = resetPeakRss();
  let sampledPeakBytes = memBefore.rss;
  let sampledPeakArrayBuffersBytes = memBefore.arrayBuffers;
  // Optional (BENCH_GC_EVERY_MS, with --expose-gc): collect garbage while sending, to tell what the send
  // keeps alive from what the collector simply has not reclaimed yet.
  const gcEveryMs = Number(process.env.BENCH_GC_EVERY_MS ?? 0);
  const gc = (globalThis as { gc?: () => void }).gc;
  const collector = gcEveryMs > 0 && gc ? setInterval(gc, gcEveryMs) : undefined;
  const sampler = setInterval(() => {
    const m = process.memoryUsage();
    sampledPeakBytes = Math.max(sampledPeakBytes, m.rss);
    sampledPeakArrayBuffersBytes = Math.max(sampledPeakArrayBuffersBytes, m.arrayBuffers);
  }, 5);
  const t0 = performance.now();
  let response: { batchItemFailures?: unknown[] } | undefined;
  try {
    response = (await handler(event, context)) as typeof response;
  } finally {
    clearInterval(sampler);
    if (collector) clearInterval(collector);
  }
  const handlerMs = performance.now() - t0;
  const sendHwmKiB = peakReset ? vmHwmKiB() : undefined;
  const maxRssAfterKiB = process.resourceUsage().maxRSS;
  const memAfter = process.memoryUsage();
  sampledPeakBytes = Math.max(sampledPeakBytes, memAfter.rss);

  const failures = response?.batchItemFailures?.length ?? 0;
  if (failures === 0) {
    for (const m of received) {
      if (m.ReceiptHandle)
        await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle }));
    }
  }
  sqs.destroy();
  return {
    ok: failures === 0,
    maxRssBeforeKiB,
    maxRssAfterKiB,
    ...(sendHwmKiB !== undefined ? { sendHwmKiB } : {}),
    sampledPeakBytes,
    sampledPeakArrayBuffersBytes,
    rssBeforeBytes: memBefore.rss,
    rssAfterBytes: memAfter.rss,
    heapUsedBeforeBytes: memBefore.heapUsed,
    heapUsedAfterBytes: memAfter.heapUsed,
    handlerMs,
    batchItemFailures: failures,
  };
}

const report = await main().catch(
  (err: unknown): ChildReport => ({
    ok: false,
    error: err instanceof Error ? (err.stack ?? err.message) : String(err),
    maxRssBeforeKiB: 0,
    maxRssAfterKiB: process.resourceUsage().maxRSS,
    sampledPeakBytes: 0,
    sampledPeakArrayBuffersBytes: 0,
    rssBeforeBytes: 0,
    rssAfterBytes: process.memoryUsage.rss(),
    heapUsedBeforeBytes: 0,
    heapUsedAfterBytes: 0,
    handlerMs: 0,
    batchItemFailures: 0,
  }),
);
if (process.send) process.send(report, () => process.exit(0));
else {
  process.stdout.write(`${JSON.stringify(report)}\n`);
  process.exit(report.ok ? 0 : 1);
}
