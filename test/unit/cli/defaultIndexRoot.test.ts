import { homedir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { defaultIndexRoot } from "../../../packages/cli/src/indexOptions.js";

describe("defaultIndexRoot (the index directory when none is named)", () => {
  it("is under XDG_CACHE_HOME where that is an absolute path, else under ~/.cache", () => {
    expect(defaultIndexRoot({ XDG_CACHE_HOME: "/var/cache/me" })).toBe("/var/cache/me/chunksync/index");
    const home = join(homedir(), ".cache", "chunksync", "index");
    expect(defaultIndexRoot({})).toBe(home);
    expect(defaultIndexRoot({ XDG_CACHE_HOME: "" })).toBe(home);
    // A relative one would put the index wherever the run started: the XDG spec says to pass it over.
    expect(defaultIndexRoot({ XDG_CACHE_HOME: "relative/cache" })).toBe(home);
  });
});
