import { parseKnownFiles } from "@smithy/core/config";
import type { AwsCredentialIdentity } from "@smithy/types";

/** A profile's keys, as the shared files hold them. */
type Profile = Record<string, string | undefined>;

/**
 * Static keys in a profile, read as the SDK's `fromIni` reads them, or undefined where it would
 * do anything else: a profile naming a role (`role_arn`) assumes it, even beside keys of its own;
 * one without both keys goes on to web identity, a process, SSO or a login.
 */
function staticKeys(profile: Profile | undefined): AwsCredentialIdentity | undefined {
  if (profile === undefined || typeof profile.role_arn === "string") return undefined;
  const { aws_access_key_id: accessKeyId, aws_secret_access_key: secretAccessKey } = profile;
  if (typeof accessKeyId !== "string" || typeof secretAccessKey !== "string") return undefined;
  const sessionToken = profile.aws_session_token;
  return { accessKeyId, secretAccessKey, ...(sessionToken === undefined ? {} : { sessionToken }) };
}

/**
 * Keys from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, where the SDK's default chain takes
 * them: AWS_PROFILE unset, and both keys set. (With both and AWS_PROFILE, the SDK warns and takes
 * the profile: that stays the SDK's.) Keys that expire (AWS_CREDENTIAL_EXPIRATION) are left to
 * the SDK's refresh.
 */
function environmentKeys(env: NodeJS.ProcessEnv): AwsCredentialIdentity | "sdk" | undefined {
  const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey } = env;
  if (!accessKeyId || !secretAccessKey) return undefined;
  if (env.AWS_PROFILE || env.AWS_CREDENTIAL_EXPIRATION) return "sdk";
  const sessionToken = env.AWS_SESSION_TOKEN;
  return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
}

/**
 * Static keys that the SDK would find for one side: in `profile` (the SDK's `fromIni`), or
 * without one in its default chain (the environment, then AWS_PROFILE's or the default profile).
 * Undefined where the SDK would do anything else (SSO, a role, a process, web identity, the
 * instance role, or find nothing): those stay the SDK client's own, loaded only then.
 */
export async function staticCredentials(
  profile: string | undefined,
): Promise<AwsCredentialIdentity | undefined> {
  const fromEnvironment = profile === undefined ? environmentKeys(process.env) : undefined;
  if (fromEnvironment === "sdk") return undefined;
  if (fromEnvironment !== undefined) return fromEnvironment;
  // The profile the SDK reads: named, else AWS_PROFILE, else "default" (its getProfileName).
  const name = profile || process.env.AWS_PROFILE || "default";
  return staticKeys((await parseKnownFiles({}))[name]);
}
