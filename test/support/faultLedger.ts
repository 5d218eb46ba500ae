import { appendFileSync } from "node:fs";
import { inject } from "vitest";

/** One scenario's outcome in a fault category. */
export interface LedgerEntry {
  category: string;
  scenario: string;
  /** The scenario ran to its checks. */
  tried: number;
  /** Every invariant held (equal bytes, old-or-new, nothing left behind, the expected error). */
  survived: number;
  /** Bytes of destination objects that ended up neither the old nor the new version. */
  bytesLost: number;
}

declare module "vitest" {
  export interface ProvidedContext {
    faultLedger: string;
  }
}

/**
 * Appends one line to this vitest run's ledger (a JSON-lines file the summary global
 * setup created); the summary prints one line per category when the run ends.
 */
export function record(
  category: string,
  scenario: string,
  outcome: { survived: boolean; bytesLost?: number },
) {
  const entry: LedgerEntry = {
    category,
    scenario,
    tried: 1,
    survived: outcome.survived ? 1 : 0,
    bytesLost: outcome.bytesLost ?? 0,
  };
  appendFileSync(inject("faultLedger"), `${JSON.stringify(entry)}\n`);
}

/**
 * Runs `check` (a scenario's assertions) and records its outcome whether it passes or
 * throws, so a failing scenario is counted as tried and not survived.
 */
export async function scenario(
  category: string,
  name: string,
  /** May resolve to `{ bytesLost }`; anything else counts as nothing lost. */
  check: () => Promise<unknown>,
): Promise<void> {
  let bytesLost = 0;
  try {
    const out = (await check()) as { bytesLost?: number } | undefined;
    bytesLost = out?.bytesLost ?? 0;
    record(category, name, { survived: bytesLost === 0, bytesLost });
  } catch (error) {
    record(category, name, { survived: false, bytesLost });
    throw error;
  }
}
