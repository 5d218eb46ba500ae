import { ValidationError } from "@chunksync/core";

/**
 * `sync --delete` from a source prefix under which nothing is listed, into a destination that
 * holds objects: refused before any work, since the run would delete every one of them, and a
 * mistyped prefix is the likelier cause than a wish to empty the destination.
 */
export class EmptySourceError extends ValidationError {
  constructor(sourceUrl: string, destinationUrl: string) {
    super(
      "SRC",
      `a prefix that holds objects, but nothing is listed under ${sourceUrl}, and sync --delete would delete every object under ${destinationUrl} that its filters select; nothing was done (to empty the destination, delete its objects there)`,
      { code: "SOURCE_EMPTY" },
    );
  }
}
