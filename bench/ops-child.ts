/**
 * Section 10 in a process of its own (started by bench/run.ts): the stream aggregator's handler keeps the
 * DynamoDB client it built for the first stack of its process (a Lambda's process never changes stacks), so in
 * the bench's main process, after the other sections' stacks, its writes went to a stack already stopped and the
 * section waited for counters that never came. Sends its OpsBenchResult over IPC.
 */
import { runOps } from './ops.ts';

const records = process.env.BENCH_OPS_RECORDS ? Number(process.env.BENCH_OPS_RECORDS) : undefined;
process.send?.(await runOps(records ? { records } : {}));
