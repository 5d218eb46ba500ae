import type { WorkArea } from "@chunksync/workflow";

/**
 * The objects whose own flow a workflow run ran: PlanSource keeps a source record of each it
 * plans, as a page's copy does of each it prepares, which lists those it wrote (see pageCopy.ts).
 */
export async function objectFlows(work: WorkArea): Promise<string[]> {
  const planned: string[] = [];
  const copied = new Set<string>();
  for await (const key of work.list("shared/runs/")) {
    if (key.endsWith("/source.json")) planned.push(key);
    if (!key.endsWith("/copied.json")) continue;
    for (const copy of (await work.get<{ key: string }[]>(key)) ?? []) copied.add(copy.key);
  }
  const flows: string[] = [];
  for (const key of planned) {
    const source = await work.get<{ key: string }>(key);
    if (source !== undefined && !copied.has(source.key)) flows.push(source.key);
  }
  return flows.sort();
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
