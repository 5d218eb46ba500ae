import {
  ExecutionAlreadyExists,
  ListExecutionsCommand,
  type SFNClient,
  StartExecutionCommand,
} from "@aws-sdk/client-sfn";
import { executionNameForWindow } from "./config.js";

/** Starts an execution by name; "exists" when one of that name already ran or runs. */
export interface ExecutionStarter {
  start(name: string, input: unknown): Promise<"started" | "exists">;
  /** The name of an execution of the state machine still running, if any. */
  running(): Promise<string | undefined>;
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

  async running(): Promise<string | undefined> {
    const listed = await this.client.send(
      new ListExecutionsCommand({
        stateMachineArn: this.stateMachineArn,
        statusFilter: "RUNNING",
        maxResults: 1,
      }),
    );
    return listed.executions?.[0]?.name;
  }
}

/**
 * Starts the run of one schedule window. The execution (and run id) is named after the window,
 * so a repeated or duplicate trigger for it starts nothing new. Nor does a window whose trigger
 * comes while an earlier window's run still goes: two runs at once would read and write the
 * same objects and indexes twice, each reporting the other's writes as conflicts. The first
 * window after that run ends starts the next.
 */
export async function startScheduledRun(
  starter: ExecutionStarter,
  scheduledTime: string,
): Promise<{ executionName: string; started: boolean; skipped?: string }> {
  const name = executionNameForWindow(scheduledTime);
  const busy = await starter.running();
  if (busy !== undefined && busy !== name)
    return { executionName: name, started: false, skipped: `the run ${busy} is still going` };
  const outcome = await starter.start(name, { runId: name });
  return { executionName: name, started: outcome === "started" };
}
