import { ineffectiveIncludes, type KeyRule } from "@chunksync/sync";
import { locationText, type S3Location } from "./parseS3Url.js";

/** Before a run: an --include that no --exclude precedes selects nothing more than the default. */
export function warnIneffectiveIncludes(filters: readonly KeyRule[], out: NodeJS.WritableStream): void {
  for (const glob of ineffectiveIncludes(filters)) {
    out.write(
      `chunksync: warning: --include '${glob}' comes before any --exclude, so it changes nothing ` +
        `(every key is selected by default); to select only these keys, put --exclude '**' before it\n`,
    );
  }
}

/**
 * Before a run: `--exclude '*'` is how `aws s3 sync` leaves out every key, but its `*` crosses
 * "/" and picomatch's does not, so here it leaves out top-level keys only and every nested key
 * stays selected (and, with --delete, its destination-only copies deleted).
 */
export function warnTopLevelExclude(filters: readonly KeyRule[], out: NodeJS.WritableStream): void {
  if (!filters.some((r) => r.kind === "exclude" && r.glob === "*")) return;
  out.write(
    "chunksync: warning: --exclude '*' leaves out top-level keys only (* stops at /, unlike in aws s3 sync); " +
      "write --exclude '**' to leave out every key\n",
  );
}

/** The objects a run (sync, check, plan, audit) selected: on the source, and on the destination alone. */
export interface Selected {
  source: number;
  destinationOnly: number;
}

/**
 * After a run: neither side had a selected object, which is almost always a wrong prefix or
 * filter rather than an empty bucket pair (and an audit of nothing exits 0, having proved
 * nothing). On stderr, so `--json` stdout stays one document.
 */
export function warnNoObjects(
  selected: Selected,
  source: S3Location,
  destination: S3Location,
  filters: readonly KeyRule[],
  out: NodeJS.WritableStream,
): void {
  if (selected.source > 0 || selected.destinationOnly > 0) return;
  const where = `${locationText(source)} (source) or ${locationText(destination)} (destination)`;
  const prefixes = [source.prefix, destination.prefix].some((p) => p !== "" && !p.endsWith("/"))
    ? "; a prefix names a directory (s3://b/photos reads photos/...)"
    : "";
  out.write(
    filters.length > 0
      ? `chunksync: warning: no object under ${where} matches the filters${prefixes}\n`
      : `chunksync: warning: no object under ${where}${prefixes}\n`,
  );
}
