/** A Markdown table; cells are already formatted strings. */
export function markdownTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(" | ")} |`;
  return [
    line(header),
    `| ${widths.map((w) => "-".repeat(Math.max(3, w))).join(" | ")} |`,
    ...rows.map(line),
  ].join("\n");
}

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

/** Bytes as MiB with one decimal (MiB everywhere, so columns compare at a glance). */
export function mib(bytes: number | undefined): string {
  return bytes === undefined ? "n/a" : `${(bytes / MiB).toFixed(1)} MiB`;
}

/** Exact bytes below 1 MiB (a "0 bytes read" claim must show the 0), MiB above. */
export function bytesCell(n: number | undefined): string {
  if (n === undefined) return "n/a";
  return n < MiB ? `${n.toLocaleString("en-US")} B` : mib(n);
}

export function secs(seconds: number | undefined): string {
  return seconds === undefined ? "n/a" : `${seconds.toFixed(2)} s`;
}

/** `a / b` as `0.12x`, or n/a when either side is missing or b is zero. */
export function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || b === 0) return "n/a";
  return `${(a / b).toFixed(2)}x`;
}

export function rate(value: number, unit: string): string {
  return `${value >= 100 ? value.toFixed(0) : value.toFixed(1)} ${unit}`;
}
