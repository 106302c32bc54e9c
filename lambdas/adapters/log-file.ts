/** The local stack's JSON log file (`.relay/relay.log`): its last lines, filtered (GET /v1/log/stream). */
import { open } from 'node:fs/promises';
import { lineMatches } from '#domain/ops/logs.ts';
import type { LogFilter, LogLine, OpsLogs } from '#domain/ops/types.ts';

/** Reads at most this much of the file's end: recent lines, without reading a large file whole. */
const TAIL_BYTES = 8 * 1024 * 1024;

export class LogFile implements OpsLogs {
  constructor(private readonly path: string | undefined) {}

  async read(filter: LogFilter): Promise<LogLine[]> {
    if (!this.path) return [];
    let text: string;
    try {
      const fh = await open(this.path, 'r');
      try {
        const { size } = await fh.stat();
        const start = Math.max(0, size - TAIL_BYTES);
        const buf = Buffer.alloc(size - start);
        await fh.read(buf, 0, buf.length, start);
        text = buf.toString('utf8');
        if (start > 0) text = text.slice(text.indexOf('\n') + 1);
      } finally {
        await fh.close();
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const out: LogLine[] = [];
    for (const raw of text.split('\n')) {
      if (!raw.startsWith('{')) continue;
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        continue;
      }
      if (lineMatches(line, filter)) out.push(line as LogLine);
    }
    return out.slice(-filter.limit);
  }
}
