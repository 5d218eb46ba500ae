import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import type { LedgerEntry } from "./faultLedger.js";

/**
 * Global setup of the fault suite's ledger: one JSON-lines file per vitest run, which
 * every fault test appends to; the teardown prints one line per category.
 */
export default function setup(project: TestProject): () => void {
  const file = join(tmpdir(), `chunksync-fault-ledger-${process.pid}-${Date.now()}.jsonl`);
  writeFileSync(file, "");
  project.provide("faultLedger", file);
  return () => {
    const entries: LedgerEntry[] = existsSync(file)
      ? readFileSync(file, "utf8")
          .split("\n")
          .filter((line) => line.trim() !== "")
          .map((line) => JSON.parse(line) as LedgerEntry)
      : [];
    rmSync(file, { force: true });
    if (entries.length === 0) return;
    const byCategory = new Map<string, { tried: number; survived: number; bytesLost: number }>();
    for (const e of entries) {
      const row = byCategory.get(e.category) ?? { tried: 0, survived: 0, bytesLost: 0 };
      row.tried += e.tried;
      row.survived += e.survived;
      row.bytesLost += e.bytesLost;
      byCategory.set(e.category, row);
    }
    const lines = ["", "fault and abuse suite:"];
    for (const [category, row] of [...byCategory].sort(([a], [b]) => a.localeCompare(b))) {
      lines.push(
        `  ${category.padEnd(34)} tried ${String(row.tried).padStart(3)}  survived ${String(row.survived).padStart(3)}  bytes lost ${row.bytesLost}`,
      );
    }
    const failed = entries.filter((e) => e.survived === 0);
    for (const e of failed) lines.push(`  not survived: ${e.category} / ${e.scenario}`);
    console.log(lines.join("\n"));
  };
}
