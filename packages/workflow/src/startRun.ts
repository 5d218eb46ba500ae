import { ExecutionAlreadyExists, type SFNClient, StartExecutionCommand } from "@aws-sdk/client-sfn";
import { executionNameForWindow } from "./config.js";

/** Starts an execution by name; "exists" when one of that name already ran or runs. */
export interface ExecutionStarter {
  start(name: string, input: unknown): Promise<"started" | "exists">;
}

/** Step Functions' StartExecution; a Standard workflow's names are unique for 90 days. */
export class SfnExecutionStarter implements ExecutionStarter {
  constructor(
    readonly client: SFNClient,
    readonly stateMachineArn: string,
  ) {}

  async start(name: string, input: unknown): Promise<"started" | "exists"> {
    try {
      await this.client.send(
        new StartExecutionCommand({
          stateMachineArn: this.stateMachineArn,
          name,
          input: JSON.stringify(input),
        }),
      );
      return "started";
    } catch (error) {
      if (error instanceof ExecutionAlreadyExists) return "exists";
      throw error;
    }
  }
}

/**
 * Starts the run of one schedule window. The execution (and run id) is named after
 * the window, so a repeated or duplicate trigger for it starts nothing new.
 */
export async function startScheduledRun(starter: ExecutionStarter, scheduledTime: string) {
  const name = executionNameForWindow(scheduledTime);
  const outcome = await starter.start(name, { runId: name });
  return { executionName: name, started: outcome === "started" };
}
