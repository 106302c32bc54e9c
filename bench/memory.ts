/**
 * Section 3: peak RSS of a forwarder sending one large file, measured in a child process that runs only the
 * forwarder handler (bench/forward-child.ts), so the emulators and simulators in this process do not count.
 *
 * The file goes through the real router; the forwarder mapping of the stack diverts that one delivery message
 * to a side queue (see ForwarderSwitch in pipeline.ts), and the child receives it from there, exactly as
 * the event source mapping would have received it from the Instrumental queue.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { CreateQueueCommand, GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { parseDeliveryMessage } from '#domain/delivery.ts';
import { queueUrlOnEndpoint } from '#local/resources.ts';
import { makeJpeg } from '#simulators/media/index.ts';
import type { ChildReport } from './forward-child.ts';
import { ACCEPTED, type BenchRelay, putObject, recordsOf, STREAM_ASSETS } from './pipeline.ts';

export interface MemoryOptions {
  fileBytes: number;
  /** More environment for the child (e.g. RELAY_STREAM_GC_MIB=0: the bound on streamed garbage off). */
  env?: Record<string, string>;
  /** Run the child with --expose-gc and collect every this many ms during the send (a cross-check). */
  gcEveryMs?: number;
  /** The forwarder's function timeout (lib/defaults.ts FUNCTION_SIZING). */
  functionTimeoutMs: number;
  /** Serial number in the object key (one object per run). */
  serial: string;
}

export interface MemoryResult {
  fileBytes: number;
  child: ChildReport;
  peakRssBytes: number;
  baselineRssBytes: number;
  deltaBytes: number;
  deltaShareOfFile: number;
  status: string;
  storedBytes: number | undefined;
  sizeMatches: boolean;
  sha256Matches: boolean;
  uploadMs: number;
}

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const CHILD = fileURLToPath(new URL('./forward-child.ts', import.meta.url));

const withTimeout = <T>(p: Promise<T>, ms: number, what: string): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
};

const running = new Set<ChildProcess>();

/** Kills every forward-child still running (on SIGINT/SIGTERM of the benchmark). */
export function killChildren(): void {
  for (const c of running) c.kill('SIGKILL');
}

/** Runs a bench child (`node --import tsx <path>`) and answers the one IPC message it sends. */
export function runChild<R = ChildReport>(
  env: Record<string, string>,
  timeoutMs: number,
  nodeArgs: string[] = [],
  path = CHILD,
): Promise<R> {
  let child: ChildProcess | undefined;
  const tail: string[] = [];
  const keep = (chunk: Buffer) => {
    tail.push(chunk.toString('utf8'));
    if (tail.length > 50) tail.shift();
  };
  const name = path.slice(path.lastIndexOf('/') + 1);
  const done = new Promise<R>((resolve, reject) => {
    child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', path], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    running.add(child);
    child.once('exit', () => running.delete(child as ChildProcess));
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.once('message', (m) => resolve(m as R));
    child.once('error', reject);
    child.once('exit', (code, signal) =>
      reject(new Error(`${name} exited (${code ?? signal}) without a report:\n${tail.join('')}`)),
    );
  });
  return withTimeout(done, timeoutMs, name).finally(async () => {
    const c = child;
    if (c && c.exitCode === null && c.signalCode === null) {
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGKILL');
      await exited;
    }
  });
}

export async function runMemory(relay: BenchRelay, opts: MemoryOptions): Promise<MemoryResult> {
  const { stack, fast } = relay;
  const { sqs } = stack.clients;
  const created = await sqs.send(
    new CreateQueueCommand({ QueueName: 'bench-forward-child', Attributes: { VisibilityTimeout: '900' } }),
  );
  const queueUrl = queueUrlOnEndpoint(created.QueueUrl ?? '', stack.endpoints.sqs);
  const attrs = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
  );
  const queueArn = attrs.Attributes?.QueueArn;
  if (!queueArn) throw new Error('side queue has no ARN');

  const body = makeJpeg({ width: 640, height: 480, seed: 50, padToBytes: opts.fileBytes });
  const sha256 = createHash('sha256').update(body).digest('hex');
  const key = `${STREAM_ASSETS.fast}/AOI-BIG/${opts.serial}_20260105T101500Z.jpg`;

  let diverted!: () => void;
  const isDiverted = new Promise<void>((resolve) => {
    diverted = resolve;
  });
  relay.forwarderSwitch.divert = {
    match: (b) => parseDeliveryMessage(b)?.object.key === key,
    queueUrl,
    onDiverted: () => diverted(),
  };
  try {
    const t0 = Date.now();
    const obj = await putObject(stack, key, body);
    const uploadMs = Date.now() - t0;
    await withTimeout(isDiverted, 60_000, 'delivery message of the large file');

    const vendorQueue = stack.queues.vendors.instrumental;
    if (!vendorQueue) throw new Error('no Instrumental queue in the stack');
    const child = await runChild(
      {
        ...stack.env,
        BENCH_QUEUE_URL: queueUrl,
        BENCH_QUEUE_ARN: queueArn,
        BENCH_DLQ_URL: vendorQueue.dlq.url,
        BENCH_TIMEOUT_MS: String(opts.functionTimeoutMs),
        ...opts.env,
        ...(opts.gcEveryMs ? { BENCH_GC_EVERY_MS: String(opts.gcEveryMs) } : {}),
      },
      opts.functionTimeoutMs + 60_000,
      opts.gcEveryMs ? ['--expose-gc'] : [],
    );
    if (child.error) throw new Error(`forward-child failed:\n${child.error}`);

    const [rec] = await recordsOf(stack, obj);
    const file = rec?.vendorRef ? fast.file(rec.vendorRef) : undefined;
    // VmHWM reset before the send is the send's own peak; without it (not Linux) the 5 ms sampler is the
    // best figure there is (maxRSS would be start-up's high-water mark).
    const peakRssBytes = child.sendHwmKiB !== undefined ? child.sendHwmKiB * 1024 : child.sampledPeakBytes;
    const deltaBytes = peakRssBytes - child.rssBeforeBytes;
    return {
      fileBytes: body.length,
      child,
      peakRssBytes,
      baselineRssBytes: child.rssBeforeBytes,
      deltaBytes,
      deltaShareOfFile: deltaBytes / body.length,
      status: rec ? `${rec.status}${ACCEPTED.includes(rec.status) ? '' : ' (not accepted)'}` : 'no record',
      storedBytes: file?.size,
      sizeMatches: file?.size === body.length,
      sha256Matches: file?.sha256 === sha256,
      uploadMs,
    };
  } finally {
    relay.forwarderSwitch.divert = undefined;
  }
}
