import { join } from "node:path";
import { getHomeDir, loadSharedConfigFiles, type SharedConfigFiles } from "@smithy/core/config";

/** One AWS shared file as the SDK locates it, and which variable chose it. */
export interface SharedFile {
  path: string;
  /** The variable that names the file; when it is unset the SDK reads the default path. */
  variable: "AWS_CONFIG_FILE" | "AWS_SHARED_CREDENTIALS_FILE";
  fromVariable: boolean;
}

function locate(variable: SharedFile["variable"], fallback: string): SharedFile {
  const set = process.env[variable];
  const path = set || join(getHomeDir(), ".aws", fallback);
  // The SDK expands a leading "~/" the same way; the resolved path is what a message names.
  return {
    path: path.startsWith("~/") ? join(getHomeDir(), path.slice(2)) : path,
    variable,
    fromVariable: Boolean(set),
  };
}

/** The shared config and credentials files, located and parsed by the SDK's own loader. */
export async function loadSharedConfig(): Promise<
  SharedConfigFiles & { files: { config: SharedFile; credentials: SharedFile } }
> {
  const config = locate("AWS_CONFIG_FILE", "config");
  const credentials = locate("AWS_SHARED_CREDENTIALS_FILE", "credentials");
  const parsed = await loadSharedConfigFiles({ configFilepath: config.path, filepath: credentials.path });
  return { ...parsed, files: { config, credentials } };
}
