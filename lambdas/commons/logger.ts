/**
 * Structured JSON logs (one line each), as CloudWatch Logs Insights reads them. Values under keys that name a
 * credential are replaced, so a secret cannot reach the logs through a carelessly logged object.
 */
import { ENV } from './env.ts';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const SECRET_KEY = /(api[-_]?key|authorization|secret|password|token)$/i;

export interface Logger {
  debug(message: string, data?: Record<string, unknown>): void;
  info(message: string, data?: Record<string, unknown>): void;
  warn(message: string, data?: Record<string, unknown>): void;
  error(message: string, data?: Record<string, unknown>): void;
  child(context: Record<string, unknown>): Logger;
}

export type LogSink = (line: string) => void;

export function redact(value: unknown, depth = 0): unknown {
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) return { name: value.name, message: value.message };
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value))
    out[k] = SECRET_KEY.test(k) ? '[redacted]' : redact(v, depth + 1);
  return out;
}

export function createLogger(
  context: Record<string, unknown> = {},
  options: { level?: LogLevel; sink?: LogSink } = {},
): Logger {
  const level = options.level ?? ((process.env[ENV.logLevel] as LogLevel | undefined) || 'info');
  const sink = options.sink ?? ((line: string) => process.stdout.write(`${line}\n`));
  const write = (lvl: LogLevel, message: string, data?: Record<string, unknown>) => {
    if (ORDER[lvl] < (ORDER[level] ?? 20)) return;
    const entry = { level: lvl, time: new Date().toISOString(), message, ...context, ...(data ?? {}) };
    sink(JSON.stringify(redact(entry)));
  };
  return {
    debug: (m, d) => write('debug', m, d),
    info: (m, d) => write('info', m, d),
    warn: (m, d) => write('warn', m, d),
    error: (m, d) => write('error', m, d),
    child: (more) => createLogger({ ...context, ...more }, { level, sink }),
  };
}
