import { sourceHandler } from "./lib/handlers.js";

/** Source region, source side: the `sourceConfirmExtras` step (see @chunksync/workflow). */
export const handler = sourceHandler("sourceConfirmExtras");
