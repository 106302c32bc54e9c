/**
 * Section 9: InstaVid360 callbacks vs polling only, and real deliveries under a flood of forged callbacks.
 * The work runs in a child process with its own local stack (bench/instavid360-child.ts); this side starts it
 * and prints what it measured.
 */
import { fileURLToPath } from 'node:url';
import type { IvBenchReport, IvBenchSettings, Spread } from './instavid360-child.ts';
import { runChild } from './memory.ts';
import { facts, fixed, heading, pct, seconds, table } from './report.ts';

const CHILD = fileURLToPath(new URL('./instavid360-child.ts', import.meta.url));

export type { IvBenchReport, IvBenchSettings };

export function runInstaVid360(settings: IvBenchSettings): Promise<IvBenchReport> {
  return runChild<IvBenchReport>({ BENCH_IV_SETTINGS: JSON.stringify(settings) }, 15 * 60_000, [], CHILD);
}

const row = (name: string, s: Spread, extra: string): string[] => [
  name,
  String(s.n),
  seconds(s.p50),
  seconds(s.p95),
  seconds(s.max),
  extra,
];

export function printInstaVid360(r: IvBenchReport, log: (s?: string) => void): void {
  const s = r.settings;
  log(heading('9. InstaVid360: callbacks vs polling only; deliveries under a flood of forged callbacks'));
  log(
    facts([
      [
        'stack',
        `a local stack of its own (child process, up in ${seconds(r.stackMs)}), poller every ${seconds(s.pollEveryMs)} (the deployed schedule), router without batching window; relay rate_limit raised so the vendor's 60/min is not what is measured`,
      ],
      [
        'part 1',
        `${s.photos} LPA photos to each of two destinations on identical simulators (task: new → processing at 1 s → complete at ${seconds(s.taskMs)}): one gives a signed callback_url, one polls only (first check 5 s after acceptance, then ×1.6 up to 5 min, at the poller's runs)`,
      ],
      [
        'part 2',
        `${s.rounds} × 2 alternating rounds of ${s.photos} photos (1 s tasks, callbacks on), ${s.uploadConcurrency} PutObjects at a time: one without, one while ${s.forged} forged callbacks (random MACs, ${s.forgedConcurrency} in flight) hit the HTTP API; samples pooled per kind`,
      ],
    ]),
  );
  log();
  log(
    table(
      ['task complete → COMPLETED', 'tasks', 'p50', 'p95', 'max', 'status requests per completed task'],
      [
        row('with callbacks', r.callbacks.latency, fixed(r.callbacks.statusPerTask, 2)),
        row('polling only', r.polling.latency, fixed(r.polling.statusPerTask, 2)),
      ],
    ),
  );
  log(
    `\n  callbacks bring a result home ${fixed(r.polling.latency.p50 / Math.max(1, r.callbacks.latency.p50), 1)} × sooner (p50) than polling only, with ${fixed(r.callbacks.statusPerTask, 2)} vs ${fixed(r.polling.statusPerTask, 2)} status requests per task`,
  );
  log();
  const f = r.flood;
  log(
    table(
      ['PutObject done → COMPLETED', 'photos', 'p50', 'p95', 'max', 'vendor requests per photo'],
      [
        row('without a flood', f.base, fixed(f.vendorRequestsPerDelivery.base, 2)),
        row(
          `during ${f.forgedSent} forged callbacks`,
          f.during,
          fixed(f.vendorRequestsPerDelivery.during, 2),
        ),
      ],
    ),
  );
  log(
    `\n  rounds' p50 in order (without, during, …): ${f.roundP50s.map((x) => seconds(x)).join(', ')}` +
      `\n  forged callbacks: ${Object.entries(f.forgedStatuses)
        .map(([code, n]) => `${n} × ${code}`)
        .join(
          ', ',
        )} over ${s.rounds} floods of ${f.forgedSent} (each ${seconds(f.floodMs)}); real deliveries during a flood vs without: p50 ${f.slowdown >= 0 ? '+' : ''}${pct(f.slowdown)}, mean ${f.slowdownMean >= 0 ? '+' : ''}${pct(f.slowdownMean)} (issue 13 asks < 10 %)`,
  );
}
