import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { lambdaMemoryBudget } from "@chunksync/core";
import { secretRegion } from "@chunksync/workflow";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";

const SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:chunksync-pairing-AbCdEf";

/** What a deployed function of either side is given (sst.config.ts), and its own Region. */
const deployed = {
  CHUNKSYNC_CONFIG: JSON.stringify({
    source: { bucket: "src-bucket", region: "eu-west-1" },
    destination: { bucket: "dst-bucket", region: "ap-southeast-2" },
  }),
  WORK_BUCKET: "cs-work",
  WORK_REGION: "eu-west-1",
  PAIRING_SECRET_ARN: SECRET_ARN,
  // Lambda sets AWS_REGION to the function's own Region: the destination side's runs in the destination's.
  AWS_REGION: "ap-southeast-2",
  // And the function's memory (sst.config.ts): the compose step's chunk buffers stay within it.
  AWS_LAMBDA_FUNCTION_MEMORY_SIZE: "1769",
  AWS_ACCESS_KEY_ID: "AKIDEXAMPLE",
  AWS_SECRET_ACCESS_KEY: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
};

describe("a deployed function reads the pairing secret in the secret's own Region", () => {
  const saved = Object.fromEntries(Object.keys(deployed).map((k) => [k, process.env[k]]));
  const asked: string[] = [];

  beforeAll(() => {
    Object.assign(process.env, deployed);
    // Secrets Manager answers only for secrets of the Region the client asks.
    vi.spyOn(SecretsManagerClient.prototype, "send").mockImplementation(async function (
      this: SecretsManagerClient,
    ) {
      asked.push(await this.config.region());
      return { SecretString: "0123456789abcdef".repeat(4) };
    });
  });
  afterAll(() => {
    vi.restoreAllMocks();
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  it("from a destination-side function in another Region, as from the source side", async () => {
    const { destinationContext, sourceContext } = await import("../../../functions/lib/sides.js");
    const destination = await destinationContext();
    const source = await sourceContext();
    expect(asked).toEqual(["eu-west-1"]);
    expect(destination.secret.equals(source.secret)).toBe(true);
  });

  it("keeps a destination-side function's chunk buffers within the memory Lambda says it has", async () => {
    const { destinationContext } = await import("../../../functions/lib/sides.js");
    expect((await destinationContext()).buffers.budget).toEqual(lambdaMemoryBudget(1769));
  });

  it("takes the Region from the secret's ARN and refuses anything else, naming the setting", () => {
    expect(secretRegion(SECRET_ARN)).toBe("eu-west-1");
    expect(secretRegion("arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:s-AbCdEf")).toBe(
      "cn-north-1",
    );
    expect(() => secretRegion("chunksync-pairing")).toThrow("env.PAIRING_SECRET_ARN");
  });
});
