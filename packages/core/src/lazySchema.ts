/**
 * A schema built at its first use instead of at import. Building zod schemas is most of what
 * importing core costs, every CLI run pays for the import, and the schemas are needed only
 * when a message or plan fails its fast path (or in the workflow's steps).
 */
export function lazySchema<T>(build: () => T): () => T {
  let schema: T | undefined;
  return () => {
    schema ??= build();
    return schema;
  };
}
