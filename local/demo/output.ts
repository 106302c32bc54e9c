/**
 * Terminal output of the local CLI: a few colours (only on a TTY, never with NO_COLOR) and a log file that
 * takes the relay's JSON log lines, so the terminal shows progress lines rather than log spam.
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

const useColour = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR && process.env.TERM !== 'dumb';

const paint =
  (open: number, close: number) =>
  (text: string): string =>
    useColour ? `\u001b[${open}m${text}\u001b[${close}m` : text;

export const bold = paint(1, 22);
export const dim = paint(2, 22);
export const red = paint(31, 39);
export const green = paint(32, 39);
export const yellow = paint(33, 39);
export const cyan = paint(36, 39);

/** Writes one line to the terminal (through the original stdout, even while logs are diverted). */
export type Print = (line: string) => void;

export interface LogFile {
  readonly path: string;
  /** Appends one JSON line (CLI-side events: handler failures, notifier errors). */
  write(entry: Record<string, unknown>): void;
  /** The terminal writer that bypasses the diversion. */
  print: Print;
  /** Puts stdout back and closes the file. */
  close(): void;
}

/** True for a line the relay's logger wrote (lambdas/commons/logger.ts: one JSON object per line). */
export function isRelayLogLine(text: string): boolean {
  // The relay's JSON logs, and its metrics as EMF lines (Powertools Metrics: they start with the `_aws` block).
  return text.startsWith('{"level":') || text.startsWith('{"_aws":');
}

/**
 * Opens `path` (truncated: each run is a fresh in-memory stack) and diverts every relay JSON log line written to stdout into it. Everything else
 * written to stdout passes through unchanged.
 */
export function divertRelayLogs(path: string): LogFile {
  mkdirSync(dirname(path), { recursive: true });
  let fd: number | undefined = openSync(path, 'w');
  const stdout = process.stdout;
  const original = stdout.write;
  const passThrough = (text: string): boolean => original.call(stdout, text);
  const append = (text: string) => {
    if (fd === undefined) return;
    try {
      writeSync(fd, text);
    } catch {
      // a full disk must not stop the relay
    }
  };
  const diverted = function (this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]): boolean {
    const text = typeof chunk === 'string' ? chunk : undefined;
    if (text !== undefined && isRelayLogLine(text)) {
      append(text.endsWith('\n') ? text : `${text}\n`);
      const cb = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      if (cb) process.nextTick(cb);
      return true;
    }
    return (original as (...args: unknown[]) => boolean).call(stdout, chunk, ...rest);
  };
  stdout.write = diverted as typeof stdout.write;
  return {
    path,
    write(entry) {
      append(`${JSON.stringify({ time: new Date().toISOString(), source: 'local-cli', ...entry })}\n`);
    },
    print: (line) => {
      passThrough(`${line}\n`);
    },
    close() {
      if (stdout.write === diverted) stdout.write = original;
      if (fd !== undefined) {
        const f = fd;
        fd = undefined;
        try {
          closeSync(f);
        } catch {
          // already closed
        }
      }
    },
  };
}

/** `1.2 s`, `850 ms`. */
export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** `412 KB`, `2.9 MB`, `87 B` (decimal units, as `ls -h` readers expect roughly). */
export function size(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  if (bytes < 1_000_000) return `${Math.round(bytes / 1000)} KB`;
  return `${(bytes / 1_000_000).toFixed(1)} MB`;
}
