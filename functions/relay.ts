import { parseEvent, RelayEvent, relay } from "@chunksync/workflow";
import type { Handler } from "aws-lambda";
import { destinationInvoker } from "./lib/sides.js";

/**
 * Source region: Step Functions cannot invoke a function in another region, so each
 * destination-side Task calls this relay, which invokes the destination-region function
 * and rethrows its error under the same name (so Retry and Catch still match).
 */
export const handler: Handler<unknown, unknown> = async (event) => {
  const valid = parseEvent(RelayEvent, event);
  return relay(await destinationInvoker(), valid);
};
