import { parseEvent, startScheduledRun } from "@chunksync/workflow";
import type { Handler } from "aws-lambda";
import { z } from "zod";
import { executionStarter } from "./lib/sides.js";

const ScheduledEvent = z.strictObject({ scheduledTime: z.iso.datetime({ error: "an ISO 8601 time" }) });

/**
 * Source region: the schedule's target. Starts the run of the schedule window, named
 * after it, so a duplicate trigger for the same window starts nothing new.
 */
export const handler: Handler<unknown, unknown> = async (event) => {
  const { scheduledTime } = parseEvent(ScheduledEvent, event);
  return startScheduledRun(await executionStarter(), scheduledTime);
};
