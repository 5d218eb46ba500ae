import { sourceHandler } from "./lib/handlers.js";

/** Source region, source side: the `sourceIndexCommit` step (see @chunksync/workflow). */
export const handler = sourceHandler("sourceIndexCommit");
