/**
 * CloudWatch Logs: the relay's most recent log lines for GET /v1/log/stream (FilterLogEvents, never a full read).
 *
 * FilterLogEvents answers oldest first from `startTime`, so reading forward from an hour ago would fill the
 * answer with that hour's first lines. This reads time windows backwards from now instead: the newest window
 * first (5 min), each older one twice as wide, until `limit` lines are found or `since` is reached (always
 * given: logStream defaults it to an hour ago, the same for the local log file). A window too busy to read in a
 * few pages is narrowed to its newer half, so the lines kept are the newest. A bounded number of calls per
 * request (the API answers within 29 s).
 */
import type { FilterLogEventsCommandOutput } from '@aws-sdk/client-cloudwatch-logs';
import { lineMatches } from '#domain/ops/logs.ts';
import type { LogFilter, LogLine, OpsLogs } from '#domain/ops/types.ts';
import { AwsTransport } from './aws/transport.ts';

/** The first (newest) window; each older one is twice as wide. */
const FIRST_WINDOW_MS = 5 * 60_000;
/** Pages of one group in one window before the window counts as too busy (and is narrowed). */
const PAGES_PER_WINDOW = 4;
/** FilterLogEvents calls per read, all groups and windows together. */
const MAX_CALLS = 40;
const PAGE_EVENTS = 1000;

/** The one call this adapter makes (AwsTransport's JSON protocol; tests pass a fake). */
export interface LogsClient {
  json<T>(target: string, version: '1.0' | '1.1', input: Record<string, unknown>): Promise<T>;
}

export class CloudWatchLogs implements OpsLogs {
  constructor(
    private readonly groups: string[],
    private readonly client: LogsClient = new AwsTransport('logs'),
    private readonly now: () => number = Date.now,
  ) {}

  async read(filter: LogFilter): Promise<LogLine[]> {
    const floor = Date.parse(filter.since);
    // A quoted term matches it exactly in the message (a key may hold characters the pattern syntax uses).
    const term = filter.key ?? filter.delivery;
    const filterPattern = term ? `"${term.replace(/"/g, '\\"')}"` : undefined;
    const budget = { calls: MAX_CALLS };
    const out: LogLine[] = [];
    let end = this.now();
    let width = FIRST_WINDOW_MS;
    while (end >= floor && out.length < filter.limit && budget.calls > 0) {
      const start = Math.max(floor, end - width);
      const got = await this.window(start, end, filter, filterPattern, budget);
      if (!got.complete && end - start > 1000 && budget.calls > 0) {
        width = Math.ceil((end - start) / 2); // too busy: read its newer half first
        continue;
      }
      out.push(...got.lines);
      end = start - 1;
      width *= 2;
    }
    out.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
    return out.slice(-filter.limit);
  }

  /** Every matching line of [start, end] in every group; `complete` false when a group had more pages. */
  private async window(
    start: number,
    end: number,
    filter: LogFilter,
    filterPattern: string | undefined,
    budget: { calls: number },
  ): Promise<{ lines: LogLine[]; complete: boolean }> {
    const lines: LogLine[] = [];
    for (const group of this.groups) {
      let nextToken: string | undefined;
      let pages = 0;
      do {
        if (budget.calls <= 0 || pages >= PAGES_PER_WINDOW) return { lines, complete: false };
        budget.calls--;
        pages++;
        const page = await this.client.json<FilterLogEventsCommandOutput>(
          'Logs_20140328.FilterLogEvents',
          '1.1',
          {
            logGroupName: group,
            startTime: start,
            endTime: end,
            ...(filterPattern ? { filterPattern } : {}),
            ...(nextToken ? { nextToken } : {}),
            limit: PAGE_EVENTS,
          },
        );
        for (const e of page.events ?? []) {
          try {
            const line = JSON.parse(e.message ?? '') as Record<string, unknown>;
            if (lineMatches(line, filter)) lines.push(line as LogLine);
          } catch {
            // a Lambda platform line (START, END, REPORT): not the relay's
          }
        }
        nextToken = page.nextToken;
      } while (nextToken);
    }
    return { lines, complete: true };
  }
}
