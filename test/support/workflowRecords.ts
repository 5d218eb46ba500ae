import { MemoryWorkArea, type WorkArea } from "@chunksync/workflow";

/**
 * A work area in memory that remembers, as their records are written, the objects whose own flow
 * a workflow run ran (an in-process run drops an object's records once its page is done):
 * PlanSource keeps a source record of each object it plans, as a page's copy does of each it
 * prepares, which then lists those it wrote (see pageCopy.ts).
 */
export class FlowsWorkArea extends MemoryWorkArea {
  readonly #planned = new Set<string>();
  readonly #copied = new Set<string>();
  readonly #recorded = new Set<string>();

  override async put(key: string, value: unknown): Promise<void> {
    if (key.endsWith("/source.json")) this.#planned.add((value as { key: string }).key);
    if (key.endsWith("/copied.json"))
      for (const copy of value as { key: string }[]) this.#copied.add(copy.key);
    const id = /\/(?:objects\/([0-9a-f]{32})\/|results\/([0-9a-f]{32})\.json$)/.exec(key);
    if (id) this.#recorded.add((id[1] ?? id[2])!);
    return super.put(key, value);
  }

  /** The objects whose own flow the run ran, sorted. */
  flows(): string[] {
    return [...this.#planned].filter((key) => !this.#copied.has(key)).sort();
  }

  /** The objects (by `objectId`) the run kept any record of their own of, a result included, sorted. */
  recorded(): string[] {
    return [...this.#recorded].sort();
  }
}

/**
 * The kinds of record a workflow run kept of single objects (an object's `found.json`, a
 * result `result`), each once, sorted: a page's steps keep one record for all of its objects.
 */
export async function objectRecordKinds(work: WorkArea): Promise<string[]> {
  const kinds = new Set<string>();
  for await (const key of work.list("")) {
    const record = /\/objects\/[0-9a-f]{32}\/(.+)$/.exec(key)?.[1];
    if (record !== undefined) kinds.add(record);
    if (/\/results\/[0-9a-f]{32}\.json$/.test(key)) kinds.add("result");
  }
  return [...kinds].sort();
}

/** The records of pages' lookups and decisions a workflow run's work area still holds, sorted. */
export async function pageRecordsLeft(work: WorkArea): Promise<string[]> {
  const left: string[] = [];
  for await (const key of work.list("")) if (/\/page-(lookups|decisions)\//.test(key)) left.push(key);
  return left;
}
