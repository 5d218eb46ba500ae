import { DEFAULT_ALGORITHM } from "@chunksync/core";
import { type Command, Option } from "commander";
import type { AuditFlags, ScrubFlags } from "./auditRun.js";
import { examples } from "./examples.js";
import { addFilterOptions, FILTER_HELP } from "./filterOptions.js";
import { interruptible } from "./interruptible.js";
import { addOptionPointers } from "./optionPointers.js";
import { addSideOptions, connectionHelp } from "./sideSettings.js";
import { warnIneffectiveIncludes, warnTopLevelExclude } from "./warnings.js";

/** The default sample: 1% of the bytes. */
export const DEFAULT_SAMPLE = "1%";

const AUDIT_HELP = `
What it proves: the source draws a fresh nonce and a random sample of byte
ranges of its objects; each side reads those ranges of its own objects now and
answers with HMAC(pairing secret, context || nonce || bytes); the source
compares. No digest index and no ETag is trusted, so bytes that rotted at rest
or were changed below the S3 API (same ETag, same LastModified) show. Both
sides must hold the same pairing secret (--secret-file) when they run apart.

Exit codes: 0 every sampled range is held alike, 1 a range differs or an object
is missing on DST or has another size there, 2 an object could not be audited.
Cost: each side reads the sampled bytes (plus one GET per run of adjacent
ranges). A sample holds at least one range when there is one (a percentage
of fewer ranges than it needs draws one at random). With k ranges sampled,
corruption of a fraction f of the ranges goes unseen with probability at
most (1 - f)^k, which the report states: 0 once every range was read (--full).
`;

const SCRUB_HELP = `
What it finds: which side's stored bytes rotted. It re-reads a sample of the
chunks its digest index holds (or all of them with --full) and compares each
with the digest indexed when the object was read or written. An object that no
longer matches is named and its index entry marked rotted: a sync to this side
reads it and repairs it from the source; a sync from it refuses to send it, so
the destination keeps its good copy. Give the --chunk-size, --algorithm and
--secret-file (and --index) the syncs use: they name the index, and the mark is
in that index only (a sync with another, or with --no-index, does not see it).

Exit codes: 0 every sampled chunk matches, 1 an object no longer matches its
index, 2 an error (no index found, a read failed).
`;

function addSampleOptions(command: Command, unit: string): Command {
  return addFilterOptions(
    command
      .option(
        "--sample <n|p%|fraction>",
        `${unit} to read: a count (200), a percentage (1%) or a fraction (0.01) of the bytes (default: ${DEFAULT_SAMPLE})`,
      )
      .option("--full", `read every ${unit.replace(/s$/, "")} instead of a sample`)
      .option("--secret-file <path>", "pairing secret (hex or base64, >= 32 bytes)")
      .option("--concurrency <n>", "requests in flight and objects in progress (1 to 256)", "8"),
  )
    .option("--json", "print one JSON report on stdout", false)
    .option("--quiet", "print nothing but what differs (and what --json asks for)", false);
}

/**
 * Registers `chunksync audit SRC DST` and `chunksync scrub URL`. What they run (auditRun.ts) loads
 * only when one of them runs, so other commands start without it.
 */
export function addAuditCommands(root: Command): void {
  const audit = addSideOptions(
    addOptionPointers(
      root
        .command("audit")
        .description(
          "prove that DST still holds SRC's bytes, reading a random sample of ranges on both sides",
        )
        .argument("<SRC>", "s3://bucket[/prefix] of the source")
        .argument("<DST>", "s3://bucket[/prefix] of the destination"),
      ["src", "dst"],
    ),
    ["src", "dst"],
  );
  addSampleOptions(audit, "ranges")
    .option("--range-size <size>", "size of each sampled range (KiB/MiB/GiB)", "1MiB")
    .addOption(
      new Option(
        "--engine <name>",
        "direct: this engine; workflow: the audit's Step Functions definition, run in-process",
      )
        .choices(["direct", "workflow"])
        .default("direct"),
    )
    .addHelpText(
      "after",
      `${AUDIT_HELP}${FILTER_HELP}${connectionHelp(["src-", "dst-"])}${examples("audit")}`,
    )
    .exitOverride()
    .action(async (src: string, dst: string, flags: AuditFlags) => {
      warnIneffectiveIncludes(flags.filters, process.stderr);
      warnTopLevelExclude(flags.filters, process.stderr);
      root.setOptionValue(
        "exitCode",
        await interruptible(
          async (signal) => (await import("./auditRun.js")).auditCommand(src, dst, flags, signal),
          flags.json ? { json: "audit" } : {},
        ),
      );
    });

  const scrub = addSideOptions(
    root
      .command("scrub")
      .description("re-read one side's objects and name those whose bytes no longer match its digest index")
      .argument("<URL>", "s3://bucket[/prefix] of the side to scrub"),
    [""],
  );
  addSampleOptions(scrub, "chunks")
    .option(
      "--index <dir|s3-url>",
      "where this side's digest index is kept, as --src-index/--dst-index of sync (default: this user's cache)",
    )
    .option("--chunk-size <size>", "chunk size the index was made with", "8MiB")
    .addOption(
      new Option("--algorithm <name>", "chunk digest the index was made with")
        .choices(["sha256", "sha1", "md5", "crc32c"])
        .default(DEFAULT_ALGORITHM),
    )
    .addHelpText("after", `${SCRUB_HELP}${FILTER_HELP}${connectionHelp([""])}${examples("scrub")}`)
    .exitOverride()
    .action(async (url: string, flags: ScrubFlags) => {
      warnIneffectiveIncludes(flags.filters, process.stderr);
      warnTopLevelExclude(flags.filters, process.stderr);
      root.setOptionValue(
        "exitCode",
        await interruptible(
          async (signal) => (await import("./auditRun.js")).scrubCommand(url, flags, signal),
          flags.json ? { json: "scrub" } : {},
        ),
      );
    });
}
