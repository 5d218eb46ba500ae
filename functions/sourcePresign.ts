import { sourceHandler } from "./lib/handlers.js";

/** Source region, source side: the `sourcePresign` step (see @chunksync/workflow). */
export const handler = sourceHandler("sourcePresign");
