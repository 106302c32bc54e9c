import type { Rng } from './rng.ts';

/**
 * Fault injection shared by every simulator. Faults are decided before the vendor logic runs, so an injected
 * error saves nothing (as a failed request saves nothing on the real APIs); only `loseAnswer` lets the vendor
 * act and then drops its answer.
 *
 * Two ways to inject:
 * - `rules`: probabilistic faults (error rate per status code, latency, connection resets, slow bodies),
 *   optionally limited to some routes. Decided with the simulator's seeded generator: deterministic per seed.
 * - `script`: an exact queue of the next N outcomes ("the next 3 ingestImage calls answer 500"), which is
 *   what most tests want.
 */
export interface FaultRule {
  /** Route names this rule applies to; every route when absent. */
  routes?: string[];
  /** Probability in [0,1] per status code, e.g. `{ 429: 0.2, 503: 0.05 }`. */
  statusRates?: Record<number, number>;
  /** Fixed latency in ms, or a [min, max] range, added before the answer. */
  latencyMs?: number | [number, number];
  /** Probability in [0,1] that the connection is destroyed without an answer, before the route runs. */
  resetRate?: number;
  /**
   * Probability in [0,1] that the route runs (the vendor stores the file) and then the connection is destroyed
   * instead of the answer: the lost answer a client cannot tell from a reset before storing.
   */
  lostAnswerRate?: number;
  /** When set, the response body is written in small chunks at this many bytes per second. */
  slowBodyBytesPerSec?: number;
  /** Extra headers sent with injected error statuses (e.g. `{ 'retry-after': '2' }`). */
  headers?: Record<string, string>;
}

export interface ScriptedFault {
  /** Route name to match; any route when absent. */
  route?: string;
  /** How many matching requests this entry answers (default 1). */
  times?: number;
  /** Answer with this status (and body/headers) instead of running the route. */
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Destroy the connection instead of answering. */
  reset?: boolean;
  /** Read this many body bytes (or all, when 0) and then destroy the connection: a peer dying mid-request. */
  resetAfterBytes?: number;
  /** Delay in ms before answering (or before running the route when no status is given). */
  delayMs?: number;
  /**
   * Run the route (the vendor acts: it stores, counts) and then destroy the connection instead of answering:
   * an answer lost on its way back, after the whole request was read. The one fault that is not decided before
   * the vendor logic.
   */
  loseAnswer?: boolean;
}

export interface FaultConfig {
  rules?: FaultRule[];
  script?: ScriptedFault[];
}

export type FaultDecision =
  | { kind: 'none'; delayMs: number; slowBodyBytesPerSec?: number; loseAnswer?: boolean }
  | { kind: 'reset'; delayMs: number; afterBytes?: number }
  | { kind: 'status'; delayMs: number; status: number; body?: unknown; headers: Record<string, string> };

export class FaultInjector {
  private rules: FaultRule[] = [];
  private script: Array<ScriptedFault & { remaining: number }> = [];

  constructor(private readonly rng: Rng) {}

  set(config: FaultConfig): void {
    this.rules = [...(config.rules ?? [])];
    this.script = (config.script ?? []).map((s) => ({ ...s, remaining: s.times ?? 1 }));
  }

  /** Adds scripted faults after those already queued. */
  enqueue(...faults: ScriptedFault[]): void {
    for (const f of faults) this.script.push({ ...f, remaining: f.times ?? 1 });
  }

  clear(): void {
    this.rules = [];
    this.script = [];
  }

  snapshot(): FaultConfig {
    return {
      rules: this.rules,
      script: this.script.map(({ remaining, ...s }) => ({ ...s, times: remaining })),
    };
  }

  decide(route: string): FaultDecision {
    const idx = this.script.findIndex((s) => s.route === undefined || s.route === route);
    if (idx >= 0) {
      const entry = this.script[idx] as ScriptedFault & { remaining: number };
      entry.remaining -= 1;
      if (entry.remaining <= 0) this.script.splice(idx, 1);
      const delayMs = entry.delayMs ?? 0;
      if (entry.reset || entry.resetAfterBytes !== undefined) {
        return { kind: 'reset', delayMs, afterBytes: entry.resetAfterBytes };
      }
      if (entry.status !== undefined) {
        return {
          kind: 'status',
          delayMs,
          status: entry.status,
          body: entry.body,
          headers: entry.headers ?? {},
        };
      }
      return entry.loseAnswer ? { kind: 'none', delayMs, loseAnswer: true } : { kind: 'none', delayMs };
    }

    let delayMs = 0;
    let slow: number | undefined;
    let lose = false;
    for (const rule of this.rules) {
      if (rule.routes && !rule.routes.includes(route)) continue;
      if (rule.latencyMs !== undefined) {
        delayMs += Array.isArray(rule.latencyMs)
          ? this.rng.int(rule.latencyMs[0], rule.latencyMs[1])
          : rule.latencyMs;
      }
      if (rule.slowBodyBytesPerSec) slow = rule.slowBodyBytesPerSec;
      if (rule.resetRate && this.rng.next() < rule.resetRate) return { kind: 'reset', delayMs };
      for (const [status, rate] of Object.entries(rule.statusRates ?? {})) {
        if (this.rng.next() < rate) {
          return { kind: 'status', delayMs, status: Number(status), headers: rule.headers ?? {} };
        }
      }
      if (rule.lostAnswerRate && this.rng.next() < rule.lostAnswerRate) lose = true;
    }
    return {
      kind: 'none',
      delayMs,
      ...(slow ? { slowBodyBytesPerSec: slow } : {}),
      ...(lose ? { loseAnswer: true } : {}),
    };
  }
}
