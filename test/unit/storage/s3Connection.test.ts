import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HeadObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { fromIni } from "@aws-sdk/credential-providers";
import { S3Connection, S3ObjectStore } from "@chunksync/storage";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";

/** Every variable the SDK's credential, region and endpoint lookups read. */
const AWS_VARIABLES = [
  "AWS_ACCESS_KEY_ID",
  "AWS_SECRET_ACCESS_KEY",
  "AWS_SESSION_TOKEN",
  "AWS_CREDENTIAL_EXPIRATION",
  "AWS_PROFILE",
  "AWS_REGION",
  "AWS_CONFIG_FILE",
  "AWS_SHARED_CREDENTIALS_FILE",
  "AWS_USE_FIPS_ENDPOINT",
  "AWS_USE_DUALSTACK_ENDPOINT",
  "AWS_ENDPOINT_URL",
  "AWS_ENDPOINT_URL_S3",
  "AWS_EC2_METADATA_DISABLED",
  "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
];
const saved = Object.fromEntries(AWS_VARIABLES.map((name) => [name, process.env[name]]));
const dir = mkdtempSync(join(tmpdir(), "chunksync-connection-"));
let files = 0;

afterEach(() => {
  for (const name of AWS_VARIABLES) {
    const value = saved[name];
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * A world of shared files and variables. Each gets files of its own: the SDK caches a shared
 * file by its path for the life of the process.
 */
function world(setup: { config?: string; credentials?: string; env?: Record<string, string> }): void {
  for (const name of AWS_VARIABLES) delete process.env[name];
  files++;
  const config = join(dir, `config-${files}`);
  const credentials = join(dir, `credentials-${files}`);
  writeFileSync(config, setup.config ?? "");
  writeFileSync(credentials, setup.credentials ?? "");
  // No instance role to ask: a chain that finds nothing fails at once.
  Object.assign(process.env, {
    AWS_CONFIG_FILE: config,
    AWS_SHARED_CREDENTIALS_FILE: credentials,
    AWS_EC2_METADATA_DISABLED: "true",
    ...setup.env,
  });
}

/** The credentials the SDK's own client finds with the settings chunksync gave it before it had a connection. */
async function sdkCredentials(profile?: string) {
  const client = new S3Client({
    region: "us-east-1",
    ...(profile ? { credentials: fromIni({ profile }) } : {}),
  });
  const { accessKeyId, secretAccessKey, sessionToken } = await client.config.credentials();
  client.destroy();
  return { accessKeyId, secretAccessKey, sessionToken };
}

async function ours(profile?: string) {
  const connection = await S3Connection.open(profile ? { profile } : {});
  const { accessKeyId, secretAccessKey, sessionToken } = await connection.credentials();
  return {
    keys: { accessKeyId, secretAccessKey, sessionToken },
    fast: connection.staticCredentials !== undefined,
  };
}

/** What a `credential_process` prints. */
const processOutput = join(dir, "process.json");
writeFileSync(
  processOutput,
  JSON.stringify({ Version: 1, AccessKeyId: "proc", SecretAccessKey: "proc-secret" }),
);

const keys = (id: string) => `aws_access_key_id = ${id}\naws_secret_access_key = ${id}-secret\n`;

describe("credentials, found as the SDK finds them", () => {
  const cases: {
    name: string;
    profile?: string;
    setup: Parameters<typeof world>[0];
    /** Whether chunksync reads them itself (static keys), without the SDK's providers. */
    fast: boolean;
  }[] = [
    {
      name: "keys in the environment, before the default profile",
      setup: {
        credentials: `[default]\n${keys("profile")}`,
        env: {
          AWS_ACCESS_KEY_ID: "env",
          AWS_SECRET_ACCESS_KEY: "env-secret",
          AWS_SESSION_TOKEN: "env-token",
        },
      },
      fast: true,
    },
    {
      name: "only one key in the environment: the default profile",
      setup: { credentials: `[default]\n${keys("profile")}`, env: { AWS_ACCESS_KEY_ID: "env" } },
      fast: true,
    },
    {
      name: "AWS_PROFILE's keys, not the default profile's",
      setup: {
        credentials: `[default]\n${keys("default")}\n[p]\n${keys("p")}`,
        env: { AWS_PROFILE: "p" },
      },
      fast: true,
    },
    {
      name: "AWS_PROFILE and keys in the environment: the SDK warns and takes the profile",
      setup: {
        credentials: `[p]\n${keys("p")}`,
        env: { AWS_PROFILE: "p", AWS_ACCESS_KEY_ID: "env", AWS_SECRET_ACCESS_KEY: "env-secret" },
      },
      fast: false,
    },
    {
      name: "a named profile, before the environment's keys",
      profile: "named",
      setup: {
        config: `[profile named]\nregion = eu-west-1\n`,
        credentials: `[named]\n${keys("named")}aws_session_token = named-token\n`,
        env: { AWS_ACCESS_KEY_ID: "env", AWS_SECRET_ACCESS_KEY: "env-secret" },
      },
      fast: true,
    },
    {
      name: "keys in the config file, overridden key by key by the credentials file",
      profile: "both",
      setup: {
        config: `[profile both]\n${keys("config")}`,
        credentials: `[both]\naws_secret_access_key = credentials-secret\n`,
      },
      fast: true,
    },
    {
      name: "a profile whose keys come from a process",
      profile: "process",
      setup: {
        config: `[profile process]\ncredential_process = cat ${processOutput}\n`,
      },
      fast: false,
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      world(c.setup);
      const expected = await sdkCredentials(c.profile);
      const found = await ours(c.profile);
      expect(found.keys).toEqual(expected);
      expect(found.fast).toBe(c.fast);
    });
  }

  it("a profile that assumes a role is left to the SDK, though it holds keys too", async () => {
    world({
      credentials: `[base]\n${keys("base")}`,
      config: `[profile role]\nrole_arn = arn:aws:iam::123456789012:role/r\nsource_profile = base\n${keys("role")}`,
    });
    expect((await S3Connection.open({ profile: "role" })).staticCredentials).toBeUndefined();
  });

  it("a provider that fails below the SDK's chain (a web identity's token file missing): said as credentials not obtained", async () => {
    world({
      config: `[profile webid]\nrole_arn = arn:aws:iam::123456789012:role/r\nweb_identity_token_file = ${join(dir, "no-such-token")}\n`,
    });
    const connection = await S3Connection.open({ profile: "webid" });
    await expect(connection.credentials()).rejects.toMatchObject({
      name: "CredentialsProviderError",
      message: expect.stringMatching(/^the credentials could not be obtained: .*no-such-token/),
    });
  });

  it("nothing anywhere: the SDK's own error, at the first use", async () => {
    world({});
    const connection = await S3Connection.open({});
    await expect(connection.credentials()).rejects.toMatchObject({ name: "CredentialsProviderError" });
  });
});

describe("region and endpoint", () => {
  it("region: the flag, else the profile's, else AWS_REGION, else us-east-1", async () => {
    world({
      config: "[profile r]\nregion = eu-west-2\n[profile none]\noutput = json\n",
      env: { AWS_REGION: "ap-south-1" },
    });
    expect((await S3Connection.open({ profile: "r", region: "ca-central-1" })).region).toBe("ca-central-1");
    expect((await S3Connection.open({ profile: "r" })).region).toBe("eu-west-2");
    expect((await S3Connection.open({ profile: "none" })).region).toBe("ap-south-1");
    delete process.env.AWS_REGION;
    expect((await S3Connection.open({ profile: "none" })).region).toBe("us-east-1");
  });

  it("region with no profile named: AWS_REGION, else that of the profile AWS_PROFILE names, else the default profile's", async () => {
    world({ config: "[default]\nregion = eu-west-1\n[profile p]\nregion = eu-central-1\n" });
    expect((await S3Connection.open({})).region).toBe("eu-west-1");
    process.env.AWS_PROFILE = "p";
    expect((await S3Connection.open({})).region).toBe("eu-central-1");
    process.env.AWS_REGION = "ap-south-1";
    expect((await S3Connection.open({})).region).toBe("ap-south-1");
    // As the SDK's own client finds it.
    delete process.env.AWS_REGION;
    expect(await new S3Client({}).config.region()).toBe("eu-central-1");
  });

  it("a profile that does not exist: the refusal lists the profiles there, a dotted name included, and no other section", async () => {
    world({
      config:
        "[profile prod.eu]\nregion = eu-west-1\nservices = s\n[services s]\ns3 =\n  endpoint_url = http://x:1\n",
    });
    await expect(S3Connection.open({ profile: "prod" })).rejects.toMatchObject({
      message: expect.stringMatching(/profiles there: prod\.eu$/),
    });
  });

  it("a profile AWS_PROFILE names that does not exist: refused as a named one is, saying where the name came from", async () => {
    world({ config: "[profile p]\nregion = eu-central-1\n", env: { AWS_PROFILE: "nope" } });
    await expect(S3Connection.open({})).rejects.toMatchObject({
      code: "PROFILE_NOT_FOUND",
      fromEnvironment: true,
      message: expect.stringContaining('profile "nope" not found'),
    });
    // No default profile at all is no error: the chain looks elsewhere.
    delete process.env.AWS_PROFILE;
    await expect(S3Connection.open({})).resolves.toBeDefined();
  });

  it("endpoint set outside the flags, as the AWS CLI takes it: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, then the profile's; none when told to ignore them", async () => {
    world({
      config:
        "[profile plain]\nendpoint_url = http://plain:9000\n[default]\nendpoint_url = http://default:9000\n",
    });
    expect((await S3Connection.open({ profile: "plain" })).configured).toEqual({
      url: "http://plain:9000",
      from: 'profile "plain"',
    });
    expect((await S3Connection.open({})).configured?.from).toBe('profile "default"');
    process.env.AWS_ENDPOINT_URL = "http://any:1";
    const fromVariable = await S3Connection.open({ profile: "plain" });
    expect([fromVariable.endpoint, fromVariable.configured?.from]).toEqual([
      "http://any:1",
      "AWS_ENDPOINT_URL",
    ]);
    // With no profile named too: given as the flag's is, so addressed path-style (a host name takes no bucket in front).
    expect((await S3Connection.open({})).endpoint).toBe("http://any:1");
    process.env.AWS_ENDPOINT_URL_S3 = "http://s3only:1";
    expect((await S3Connection.open({ profile: "plain" })).endpoint).toBe("http://s3only:1");
    expect((await S3Connection.open({ profile: "plain", endpoint: "http://flag:1" })).endpoint).toBe(
      "http://flag:1",
    );
    process.env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS = "true";
    const ignored = await S3Connection.open({ profile: "plain" });
    expect([ignored.endpoint, ignored.configured]).toEqual([undefined, undefined]);
  });

  it("endpoint: the flag, else the profile's services s3 endpoint_url, else its endpoint_url", async () => {
    world({
      config: [
        "[profile plain]\nendpoint_url = http://plain:9000\n",
        "[profile svc]\nendpoint_url = http://plain:9000\nservices = local\n",
        "[services local]\ns3 =\n  endpoint_url = http://svc:9000\n",
      ].join("\n"),
    });
    expect((await S3Connection.open({ profile: "plain" })).endpoint).toBe("http://plain:9000");
    expect((await S3Connection.open({ profile: "svc" })).endpoint).toBe("http://svc:9000");
    expect((await S3Connection.open({ profile: "svc", endpoint: "http://flag:1" })).endpoint).toBe(
      "http://flag:1",
    );
    const configured = await S3Connection.open({});
    process.env.AWS_ENDPOINT_URL_S3 = "http://configured:9000";
    expect(configured.endpoint).toBeUndefined();
    expect(await configured.endpointUrl()).toBe("http://configured:9000");
  });
});

describe("requests sent on a connection", () => {
  let server: Server;
  let port: number;
  const seen: { url: string; headers: IncomingHttpHeaders }[] = [];

  beforeAll(async () => {
    server = createServer((request, response) => {
      seen.push({ url: request.url ?? "", headers: request.headers });
      response.writeHead(200, { etag: '"e"', "content-length": "0" });
      response.end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const credentials = { accessKeyId: "a", secretAccessKey: "b" };

  it("go where the SDK sends them for a custom endpoint, with or without a path, and never load it", async () => {
    world({});
    for (const base of [
      `http://127.0.0.1:${port}`,
      `http://127.0.0.1:${port}/base`,
      `http://localhost:${port}/base/`,
    ])
      for (const bucket of ["b", "my.bucket", "a-b.c1"]) {
        const connection = await S3Connection.open({ endpoint: base, region: "eu-west-1", credentials });
        const sdk = vi.spyOn(connection, "sdk");
        seen.length = 0;
        await new S3ObjectStore({ connection, bucket }).head("k/é v");
        expect(sdk).not.toHaveBeenCalled();
        const client = new S3Client({
          endpoint: base,
          region: "eu-west-1",
          credentials,
          forcePathStyle: true,
        });
        await client.send(new HeadObjectCommand({ Bucket: bucket, Key: "k/é v" }));
        client.destroy();
        connection.destroy();
        const [ourRequest, sdkRequest] = seen;
        expect(ourRequest?.url).toBe(sdkRequest?.url);
        expect(ourRequest?.headers.host).toBe(sdkRequest?.headers.host);
        // Signed for the same region and service.
        expect(ourRequest?.headers.authorization).toMatch(/\/eu-west-1\/s3\/aws4_request,/);
      }
  });

  it("FIPS asked for beside a custom endpoint: the SDK's rules decide, and refuse it", async () => {
    world({ env: { AWS_USE_FIPS_ENDPOINT: "true" } });
    const connection = await S3Connection.open({ endpoint: `http://127.0.0.1:${port}`, credentials });
    await expect(new S3ObjectStore({ connection, bucket: "b" }).head("k")).rejects.toThrow(/FIPS/);
    connection.destroy();
  });
});
