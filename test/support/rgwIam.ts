import { randomBytes } from "node:crypto";
import { IAMClient, PutUserPolicyCommand } from "@aws-sdk/client-iam";
import type { PolicyDocument } from "@chunksync/workflow";
import { createRgwUser, removeRgwUser, type S3User } from "../../scripts/local-s3.js";
import { localS3 } from "./s3.js";

/**
 * The ceph.conf of the RGW under test, for `radosgw-admin`. A test that needs users of its own
 * fails (never skips) on a server it cannot administer.
 */
export function rgwCephConf(): string {
  const s3 = localS3();
  if (s3.cephConf) return s3.cephConf;
  throw new Error(
    `this test creates RGW users with radosgw-admin: it needs the throwaway Ceph RGW the test setup starts, ` +
      `or S3_ENDPOINT plus S3_CEPH_CONF naming that RGW's ceph.conf (the server here is ${s3.kind} at ${s3.endpoint}, without a ceph.conf)`,
  );
}

/**
 * The statements RGW can evaluate: S3 ones. Secrets Manager and KMS are not RGW services
 * (its policy parser rejects their actions), so those statements stay AWS-only.
 */
export function s3Statements(policy: PolicyDocument): PolicyDocument {
  return { ...policy, Statement: policy.Statement.filter((s) => s.Action.every((a) => a.startsWith("s3:"))) };
}

/** An RGW user with fresh keys; `uid` names it for radosgw-admin and the IAM API. */
export interface RgwIdentity extends S3User {
  uid: string;
}

/**
 * Users that own nothing and hold no ACL grant, whose only rights are the IAM user policies
 * attached here; `close` removes them all.
 */
export class RgwIdentities {
  readonly #conf = rgwCephConf();
  readonly #made: string[] = [];
  #iam: IAMClient | undefined;

  async create(name: string, policy?: PolicyDocument): Promise<RgwIdentity> {
    const identity = await this.#user(name);
    if (policy) await this.attach(identity, policy);
    return identity;
  }

  /** Puts `policy` (its S3 statements) as the user's only inline policy, replacing an earlier one. */
  async attach(identity: RgwIdentity, policy: PolicyDocument): Promise<void> {
    await (await this.#admin()).send(
      new PutUserPolicyCommand({
        UserName: identity.uid,
        PolicyName: "chunksync",
        PolicyDocument: JSON.stringify(s3Statements(policy)),
      }),
    );
  }

  async close(): Promise<void> {
    this.#iam?.destroy();
    for (const uid of this.#made.splice(0)) await removeRgwUser(this.#conf, uid);
  }

  async #user(name: string, caps?: string): Promise<RgwIdentity> {
    const uid = `${name}-${randomBytes(4).toString("hex")}`;
    const user = { uid, accessKeyId: uid, secretAccessKey: randomBytes(16).toString("hex") };
    await createRgwUser(this.#conf, { ...user, ...(caps ? { caps } : {}) });
    this.#made.push(uid);
    return user;
  }

  /** RGW's IAM API (on the S3 endpoint), called by a user with the `user-policy` capability. */
  async #admin(): Promise<IAMClient> {
    if (this.#iam) return this.#iam;
    const { uid: _, ...credentials } = await this.#user("iam-admin", "user-policy=*");
    const s3 = localS3();
    this.#iam = new IAMClient({ endpoint: s3.endpoint, region: s3.region, credentials });
    return this.#iam;
  }
}
