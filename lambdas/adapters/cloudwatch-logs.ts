/** CloudWatch Logs: the relay's recent log lines for GET /v1/log/stream (FilterLogEvents, never a full read). */
import type { FilterLogEventsCommandOutput } from '@aws-sdk/client-cloudwatch-logs';
import { lineMatches } from '#domain/ops/logs.ts';
import type { LogFilter, LogLine, OpsLogs } from '#domain/ops/types.ts';
import { AwsTransport } from './aws/transport.ts';

/** Lines from the last hour unless `since` says otherwise. */
const DEFAULT_WINDOW_MS = 60 * 60_000;

export class CloudWatchLogs implements OpsLogs {
  constructor(
    private readonly groups: string[],
    private readonly client = new AwsTransport('logs'),
    private readonly now: () => number = Date.now,
  ) {}

  async read(filter: LogFilter): Promise<LogLine[]> {
    const startTime = filter.since ? Date.parse(filter.since) : this.now() - DEFAULT_WINDOW_MS;
    // A quoted term matches it exactly in the message (a key may hold characters the pattern syntax uses).
    const term = filter.key ?? filter.delivery;
    const filterPattern = term ? `"${term.replace(/"/g, '\\"')}"` : undefined;
    const out: LogLine[] = [];
    for (const group of this.groups) {
      let nextToken: string | undefined;
      let pages = 0;
      do {
        const page = await this.client.json<FilterLogEventsCommandOutput>(
          'Logs_20140328.FilterLogEvents',
          '1.1',
          {
            logGroupName: group,
            startTime,
            ...(filterPattern ? { filterPattern } : {}),
            ...(nextToken ? { nextToken } : {}),
            limit: filter.limit,
          },
        );
        for (const e of page.events ?? []) {
          try {
            const line = JSON.parse(e.message ?? '') as Record<string, unknown>;
            if (lineMatches(line, filter)) out.push(line as LogLine);
          } catch {
            // a Lambda platform line (START, END, REPORT): not the relay's
          }
        }
        nextToken = page.nextToken;
      } while (nextToken && ++pages < 5 && out.length < filter.limit * 4);
    }
    out.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
    return out.slice(-filter.limit);
  }
}
