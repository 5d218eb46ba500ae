import { InvokeCommand, type LambdaClient } from "@aws-sdk/client-lambda";
import type { z } from "zod";
import { RemoteFunctionError } from "./errors.js";
import type { DestinationTarget, RelayEvent } from "./events.js";

/**
 * Calls a destination-side step. Step Functions cannot invoke a function in another
 * region, so the state machine calls a relay in its own region, which invokes the
 * destination-region function through the SDK; in-process runs call the step directly.
 */
export interface DestinationInvoker {
  invoke(target: DestinationTarget, payload: unknown): Promise<unknown>;
}

/** Invokes destination-region functions by ARN (the relay's role may invoke only these). */
export class LambdaInvoker implements DestinationInvoker {
  constructor(
    readonly client: LambdaClient,
    readonly functionArns: Readonly<Record<DestinationTarget, string>>,
  ) {}

  async invoke(target: DestinationTarget, payload: unknown): Promise<unknown> {
    const out = await this.client.send(
      new InvokeCommand({
        FunctionName: this.functionArns[target],
        InvocationType: "RequestResponse",
        Payload: Buffer.from(JSON.stringify(payload)),
      }),
    );
    const text = out.Payload ? Buffer.from(out.Payload).toString("utf8") : "null";
    if (out.FunctionError) {
      // Rethrown under the remote error's name, so the state's Retry and Catch see ThrottledError etc.
      const error = JSON.parse(text) as { errorType?: string; errorMessage?: string };
      throw new RemoteFunctionError(error.errorType ?? "Error", error.errorMessage ?? text);
    }
    return JSON.parse(text);
  }
}

/** The relay step: forwards a validated event to the named destination-side step. */
export function relay(invoker: DestinationInvoker, event: z.infer<typeof RelayEvent>): Promise<unknown> {
  return invoker.invoke(event.target, event.payload);
}
