import stringWidth from "string-width";

/** 75000 -> "1m15s". */
export function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${(ms / 1000).toFixed(1)}s`;
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
}

/** Printable ASCII is one column a character; anything else is measured (see scripts/build-cli.ts). */
const columns = (cell: string) => (/^[ -~]*$/.test(cell) ? cell.length : stringWidth(cell));

/** The widest the first column (keys) is drawn: a longer cell stands on a line of its own. */
const FIRST_COLUMN_MAX = 60;

/**
 * Left-aligned first column, right-aligned others, with a rule under the header. Cells are
 * measured in terminal columns, not UTF-16 code units: a CJK character or an emoji takes two, a
 * combining mark or a zero-width joiner none (keys come through printable(), so no control
 * character is left to measure). A first cell wider than {@link FIRST_COLUMN_MAX} goes on a line
 * of its own, the row's other cells on the next, so that one long key does not pad every row.
 */
export function table(rows: string[][]): string {
  const width = rows.map((r) => r.map(columns));
  const widths = rows[0]!.map((_, c) => Math.max(...width.map((w) => w[c] ?? 0)));
  widths[0] = Math.min(widths[0]!, Math.max(FIRST_COLUMN_MAX, width[0]![0]!));
  const cells = (r: string[], w: number[]) =>
    r
      .map((cell, c) => {
        const pad = " ".repeat(widths[c]! - w[c]!);
        return c === 0 ? cell + pad : pad + cell;
      })
      .join("  ");
  const line = (r: string[], i: number) =>
    width[i]![0]! > widths[0]!
      ? `${r[0]}\n${cells(["", ...r.slice(1)], [0, ...width[i]!.slice(1)])}`
      : cells(r, width[i]!);
  return [
    line(rows[0]!, 0),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...rows.slice(1).map((r, i) => line(r, i + 1)),
  ].join("\n");
}
