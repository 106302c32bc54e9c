/** Plain-text tables and number formatting for the benchmark's output. */

export type Cell = string | number;

/** Right-aligns numbers, left-aligns text; a header row, a rule, then the rows. */
export function table(headers: string[], rows: Cell[][]): string {
  const text = rows.map((r) => r.map((c) => String(c)));
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((r) => (r[i] ?? '').length)));
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number'));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...text.map(line)].join('\n');
}

/** Two columns, label and value: for "what was measured" blocks. */
export function facts(pairs: Array<[string, Cell]>): string {
  const w = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `  ${k.padEnd(w)}  ${v}`).join('\n');
}

export function heading(title: string): string {
  return `\n${title}\n${'='.repeat(title.length)}`;
}

export const fixed = (n: number, digits = 1): string => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
export const kib = (bytes: number): string => fixed(bytes / 1024, 1);
export const mib = (bytes: number): string => fixed(bytes / (1024 * 1024), 1);
export const pct = (share: number): string => `${fixed(share * 100, 1)} %`;
export const seconds = (ms: number): string => `${fixed(ms / 1000, 2)} s`;
