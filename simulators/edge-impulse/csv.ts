import { CsvError, parse } from 'csv-parse/sync';
import { CSV_VALUES_MUST_BE_NUMBERS } from './assumptions.ts';

/**
 * The ingestion service's default CSV format ([D] EI CSV spec, docs.edgeimpulse.com/tools/specifications/
 * data-acquisition/csv, and edgeimpulse/example-data-collection-csv README): a header row naming the sensor axes,
 * then one row per reading. A time series has `timestamp` (milliseconds) as its first column; without it the file
 * is one multi-axis reading and must have exactly one data row. Anything else fails that file with
 * "Could not parse this CSV file…" (the Python SDK's integration tests expect that prefix).
 */

/** [D] "For multi-axis, time-series data, the first column name must be `timestamp` in millisecond format." */
export const CSV_TIMESTAMP_COLUMN = 'timestamp';

export type CsvCheck =
  | { ok: true; timeSeries: boolean; columns: string[]; rows: number }
  | { ok: false; error: string };

export function csvError(fileName: string, reason: string): string {
  return `Could not parse this CSV file "${fileName}": ${reason}`;
}

/** Parses a CSV/TXT sample and checks it against the default format; the error names the file. */
export function checkSampleCsv(fileName: string, bytes: Buffer): CsvCheck {
  const fail = (reason: string): CsvCheck => ({ ok: false, error: csvError(fileName, reason) });
  let records: string[][];
  try {
    records = parse(bytes, { bom: true, skip_empty_lines: true, trim: true, relax_column_count: true });
  } catch (err) {
    if (err instanceof CsvError) return fail(err.message);
    throw err;
  }
  const [header, ...data] = records;
  if (header === undefined) return fail('no header row');
  if (header.some((c) => c === '')) return fail('the header row has an empty column name');
  const timeSeries = header[0] === CSV_TIMESTAMP_COLUMN;
  if (timeSeries && header.length < 2) return fail('no sensor columns after "timestamp"');
  if (data.length === 0) return fail('no data rows after the header row');
  if (!timeSeries && data.length > 1) {
    return fail(
      `${data.length} data rows but no "${CSV_TIMESTAMP_COLUMN}" first column: a time series needs one ` +
        '(in milliseconds); without it only one data row (a single reading) is allowed',
    );
  }
  for (const [i, row] of data.entries()) {
    const line = `data row ${i + 1}`;
    if (row.length !== header.length)
      return fail(`${line} has ${row.length} values, the header has ${header.length} columns`);
    if (!CSV_VALUES_MUST_BE_NUMBERS) continue;
    const bad = row.findIndex((v) => v === '' || !Number.isFinite(Number(v)));
    if (bad >= 0) return fail(`${line}, column "${header[bad]}": "${row[bad]}" is not a number`);
  }
  return { ok: true, timeSeries, columns: header, rows: data.length };
}
