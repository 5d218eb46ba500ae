import stringWidth from "string-width";

/** 75000 -> "1m15s". */
export function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${(ms / 1000).toFixed(1)}s`;
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
}

/** Printable ASCII is one column a character; anything else is measured (see scripts/build-cli.ts). */
const columns = (cell: string) => (/^[ -~]*$/.test(cell) ? cell.length : stringWidth(cell));

/**
 * Left-aligned first column, right-aligned others, with a rule under the header. Cells are
 * measured in terminal columns, not UTF-16 code units: a CJK character or an emoji takes two, a
 * combining mark or a zero-width joiner none (keys come through printable(), so no control
 * character is left to measure).
 */
export function table(rows: string[][]): string {
  const width = rows.map((r) => r.map(columns));
  const widths = rows[0]!.map((_, c) => Math.max(...width.map((w) => w[c] ?? 0)));
  const line = (r: string[], i: number) =>
    r
      .map((cell, c) => {
        const pad = " ".repeat(widths[c]! - width[i]![c]!);
        return c === 0 ? cell + pad : pad + cell;
      })
      .join("  ");
  return [
    line(rows[0]!, 0),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...rows.slice(1).map((r, i) => line(r, i + 1)),
  ].join("\n");
}
