/**
 * Section 3: the peak RSS growth of a forwarder sending one large file, alone in a child process
 * (bench/forward-child.ts), for a 50 MB file to Instrumental (multipart `file` part; its limit is 50 MiB) and
 * 50 MB and 100 MB files to Edge Impulse (a batch of one; its limit is 100,000,000 bytes), so that the growth
 * can be read against the file size.
 *
 * Each file is sent three ways, each by a fresh child with its own object:
 * - deployed: as the functions run, with the bound on streamed Buffer garbage (lambdas/commons/stream-gc.ts: a
 *   scavenge every 4 MiB) — the figure the README gives;
 * - bound off: RELAY_STREAM_GC_MIB=0, Node left to collect when it will — the relay before the bound;
 * - GC every 20 ms (the child under --expose-gc, a full collection every 20 ms): what the send keeps alive, as
 *   opposed to garbage the collector has not reclaimed yet.
 */
import { ENV } from '#commons/env.ts';
import { runEdgeImpulseMemory } from './edge-impulse.ts';
import type { ChildReport } from './forward-child.ts';
import { runMemory } from './memory.ts';
import type { BenchRelay } from './pipeline.ts';
import { type Cell, fixed, heading, mib, seconds, table } from './report.ts';

export interface LargeFileSettings {
  /** Instrumental: just under its 50 MiB limit. */
  instrumentalBytes: number;
  /** Edge Impulse: sizes up to its 100,000,000-byte limit. */
  edgeImpulseBytes: readonly number[];
  gcEveryMs: number;
  instrumentalTimeoutMs: number;
  edgeImpulseTimeoutMs: number;
}

export type MemoryMode = 'deployed' | 'bound-off' | 'gc';

const MODES: ReadonlyArray<{ mode: MemoryMode; env?: Record<string, string>; gc?: boolean }> = [
  { mode: 'deployed' },
  { mode: 'bound-off', env: { [ENV.streamGcMib]: '0' } },
  { mode: 'gc', gc: true },
];

export interface LargeFileRun {
  vendor: 'instrumental' | 'edge-impulse';
  fileBytes: number;
  mode: MemoryMode;
  /** Peak RSS during the send minus RSS just before it. */
  deltaBytes: number;
  peakArrayBuffersBytes: number;
  handlerMs: number;
  /** The vendor simulator holds the file whole and right. */
  delivered: boolean;
  child: ChildReport;
}

export async function runLargeFiles(
  relay: BenchRelay,
  s: LargeFileSettings,
  onRun: (r: LargeFileRun) => void = () => undefined,
): Promise<LargeFileRun[]> {
  const runs: LargeFileRun[] = [];
  const add = (r: LargeFileRun) => {
    runs.push(r);
    onRun(r);
  };
  let n = 0;
  for (const m of MODES) {
    n++;
    const r = await runMemory(relay, {
      fileBytes: s.instrumentalBytes,
      functionTimeoutMs: s.instrumentalTimeoutMs,
      serial: `SN-BIG${String(n).padStart(4, '0')}`,
      ...(m.env ? { env: m.env } : {}),
      ...(m.gc ? { gcEveryMs: s.gcEveryMs } : {}),
    });
    add({
      vendor: 'instrumental',
      fileBytes: r.fileBytes,
      mode: m.mode,
      deltaBytes: r.deltaBytes,
      peakArrayBuffersBytes: r.child.sampledPeakArrayBuffersBytes,
      handlerMs: r.child.handlerMs,
      delivered: r.sizeMatches && r.sha256Matches,
      child: r.child,
    });
  }
  for (const fileBytes of s.edgeImpulseBytes) {
    for (const m of MODES) {
      n++;
      const r = await runEdgeImpulseMemory(relay, {
        files: 1,
        fileBytes,
        functionTimeoutMs: s.edgeImpulseTimeoutMs,
        tag: `L${n}`,
        ...(m.env ? { env: m.env } : {}),
        ...(m.gc ? { gcEveryMs: s.gcEveryMs } : {}),
      });
      add({
        vendor: 'edge-impulse',
        fileBytes: r.fileBytes,
        mode: m.mode,
        deltaBytes: r.deltaBytes,
        peakArrayBuffersBytes: r.peakArrayBuffersBytes,
        handlerMs: r.handlerMs,
        delivered: r.stored === 1 && r.child.ok,
        child: r.child,
      });
    }
  }
  return runs;
}

const find = (runs: LargeFileRun[], vendor: LargeFileRun['vendor'], bytes: number, mode: MemoryMode) =>
  runs.find((r) => r.vendor === vendor && r.fileBytes === bytes && r.mode === mode);

/** The files of the runs, in order: [vendor, bytes]. */
function files(runs: LargeFileRun[]): Array<[LargeFileRun['vendor'], number]> {
  const seen = new Map<string, [LargeFileRun['vendor'], number]>();
  for (const r of runs) seen.set(`${r.vendor}:${r.fileBytes}`, [r.vendor, r.fileBytes]);
  return [...seen.values()];
}

const fileLabel = (vendor: LargeFileRun['vendor'], bytes: number) =>
  `${vendor === 'instrumental' ? 'Instrumental' : 'Edge Impulse'} ${fixed(bytes / 1e6, 1)} MB`;

export function printLargeFiles(
  runs: LargeFileRun[],
  memoryMb: number,
  gcEveryMs: number,
  log: (line?: string) => void,
): void {
  log(heading('3. Peak RSS growth of a forwarder sending one large file (child process, forwarder only)'));
  log(
    '  each send by a fresh child (bench/forward-child.ts: ReceiveMessage → SQSEvent → createForwarderHandler, warm);',
  );
  log("  peak = the kernel's VmHWM, reset just before the send; growth = peak − RSS just before the send");
  log(
    '  deployed: as the functions run: lambdas/commons/stream-gc.ts scavenges every 4 MiB streamed (RELAY_STREAM_GC_MIB);',
  );
  log(`  bound off: ${ENV.streamGcMib}=0, V8 collects when it will (the relay before the bound)`);
  log();
  const rows: Cell[][] = files(runs).map(([vendor, bytes]) => {
    const cell = (mode: MemoryMode, what: (r: LargeFileRun) => string) => {
      const r = find(runs, vendor, bytes, mode);
      return r ? `${what(r)}${r.delivered ? '' : ' (NOT delivered)'}` : 'n/a';
    };
    return [
      fileLabel(vendor, bytes),
      cell('deployed', (r) => mib(r.deltaBytes)),
      cell('deployed', (r) => mib(r.peakArrayBuffersBytes)),
      cell('deployed', (r) => seconds(r.handlerMs)),
      cell('bound-off', (r) => mib(r.deltaBytes)),
      cell('bound-off', (r) => mib(r.peakArrayBuffersBytes)),
      cell('bound-off', (r) => seconds(r.handlerMs)),
      cell('gc', (r) => mib(r.deltaBytes)),
    ];
  });
  log(
    table(
      [
        'file',
        'deployed: growth (MiB)',
        'peak Buffers',
        'send',
        'bound off: growth',
        'peak Buffers',
        'send',
        `GC every ${gcEveryMs} ms: growth`,
      ],
      rows,
    ),
  );
  const summary = largeFileSummary(runs);
  if (summary) log(`\n  ${summary}; the forwarder Lambda has ${memoryMb} MB`);
}

/** One line for the key figures: the deployed growth of each file, the largest, and 100 MB against 50 MB. */
export function largeFileSummary(runs: LargeFileRun[]): string | undefined {
  const deployed = runs.filter((r) => r.mode === 'deployed');
  if (deployed.length === 0) return undefined;
  const parts = deployed.map((r) => `${fileLabel(r.vendor, r.fileBytes)} +${mib(r.deltaBytes)} MiB`);
  const ei = deployed.filter((r) => r.vendor === 'edge-impulse').sort((a, b) => a.fileBytes - b.fileBytes);
  const small = ei[0];
  const large = ei[ei.length - 1];
  const flat =
    small && large && large !== small
      ? `; ${fixed(large.fileBytes / small.fileBytes, 1)} × the file → ${fixed(large.deltaBytes / small.deltaBytes, 2)} × the growth`
      : '';
  const before = runs
    .filter((r) => r.mode === 'bound-off')
    .map((r) => `+${mib(r.deltaBytes)}`)
    .join(' / ');
  const worst = Math.max(...deployed.map((r) => r.deltaBytes));
  return `deployed: ${parts.join(', ')} (largest ${mib(worst)} MiB, goal ≤ 32${flat}); with the bound off ${before} MiB`;
}
