import type { MemoryObjectStore, MultipartUpload, StoreOperation } from "@chunksync/storage";

/** The operation each of a store's methods is a call of, where another writer may act after its answer. */
const ANSWERED: Record<string, StoreOperation> = {
  head: "head",
  read: "read",
  readInto: "read",
  readFirst: "readFirst",
  readFirstInto: "readFirst",
  tagging: "tagging",
  versioning: "versioning",
  put: "put",
  copyObject: "copyObject",
  createUpload: "createUpload",
  abortUpload: "abortUpload",
  delete: "delete",
  putTagging: "putTagging",
};

/** The key a call of one of a store's methods names: its first argument, or the key of the version ref it is. */
function keyOf(args: unknown[]): string | undefined {
  const first = args[0];
  if (typeof first === "string") return first;
  const named = (first as { key?: unknown } | undefined)?.key;
  return typeof named === "string" ? named : undefined;
}

/**
 * `store` as a run sees it, with another writer's turn staged just after the answer of the `nth`
 * (by default the next) call of one key (`afterNext`): the call has done its work on the
 * buckets, and its caller sees the answer only once the turn is over, as a request whose answer
 * is on its way while another writer's request lands. `beforeNext` stages a turn just before a
 * call instead. Listings stream their pages and take no turn after them.
 */
export function afterAnswers(store: MemoryObjectStore): {
  store: MemoryObjectStore;
  afterNext(operation: StoreOperation, key: string, action: () => Promise<void>, nth?: number): void;
  heal(): void;
} {
  /** Each turn, with the answers of its calls still to let pass before it. */
  const staged: { operation: StoreOperation; key: string; action: () => Promise<void>; passing: number }[] =
    [];
  const answered = async <T>(
    operation: StoreOperation,
    key: string | undefined,
    call: () => Promise<T>,
  ): Promise<T> => {
    try {
      return await call();
    } finally {
      const i = staged.findIndex((s) => s.operation === operation && s.key === key);
      const turn = staged[i];
      if (turn !== undefined && turn.passing-- === 0) {
        staged.splice(i, 1);
        await turn.action();
      }
    }
  };
  const upload = (u: MultipartUpload): MultipartUpload => ({
    ...u,
    uploadPart: (...args) => answered("uploadPart", u.key, () => u.uploadPart(...args)),
    copyPart: (...args) => answered("copyPart", u.key, () => u.copyPart(...args)),
    complete: (...args) => answered("complete", u.key, () => u.complete(...args)),
  });
  const proxied = new Proxy(store, {
    get(target, name) {
      const value: unknown = Reflect.get(target, name, target);
      if (typeof value !== "function") return value;
      // Called on the store itself: its private fields are not the proxy's.
      const call = (args: unknown[]) => value.apply(target, args);
      if (name === "resumeUpload") return (...args: unknown[]) => upload(call(args));
      const operation = typeof name === "string" ? ANSWERED[name] : undefined;
      if (operation === undefined) return value.bind(target);
      if (name === "createUpload")
        return async (...args: unknown[]) => upload(await answered(operation, keyOf(args), () => call(args)));
      return (...args: unknown[]) => answered(operation, keyOf(args), () => call(args));
    },
  });
  return {
    store: proxied,
    afterNext: (operation, key, action, nth = 1) => {
      staged.push({ operation, key, action, passing: nth - 1 });
    },
    heal: () => {
      staged.length = 0;
      store.heal();
    },
  };
}
