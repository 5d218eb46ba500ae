import type { ObjectReader } from "@chunksync/storage";
import { changedUnderRun } from "../errors.js";

/**
 * `key`'s tag set, read after its HEAD (GetObjectTagging): an object gone by then (404) was
 * deleted under the run, on `side`, as a read pinned to its version would find it.
 */
export async function tagsOf(
  store: Pick<ObjectReader, "tagging">,
  key: string,
  side: "source" | "destination",
): Promise<string | undefined> {
  try {
    return await store.tagging(key);
  } catch (error) {
    throw changedUnderRun(side, key, error);
  }
}
