import { directoryPrefix, MAX_KEY_BYTES, ValidationError } from "@chunksync/core";
import { printable } from "./printable.js";

export interface S3Location {
  bucket: string;
  prefix: string;
}

// S3's bucket naming rules (lowercase, digits, dots, hyphens, 3-63 chars), loosened to
// underscores and capitals, which S3-compatible servers and legacy AWS buckets allow.
const BUCKET = /^[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]$/;

/** Parses `s3://bucket[/prefix]`; `name` is the argument's name in error messages. */
export function parseS3Url(text: string, name: string): S3Location {
  // Text without a scheme (`photos`, `./photos`, `C:\photos`) is a path on this machine, which
  // a user may well try.
  if (!/^[A-Za-z][A-Za-z0-9+.-]+:/.test(text)) {
    throw new ValidationError(
      name,
      `an S3 URL like s3://bucket or s3://bucket/prefix (local paths are not supported yet), got "${text}"`,
    );
  }
  const match = /^s3:\/\/([^/]*)(?:\/(.*))?$/s.exec(text);
  if (!match)
    throw new ValidationError(name, `an S3 URL like s3://bucket or s3://bucket/prefix, got "${text}"`);
  const bucket = match[1] ?? "";
  if (!BUCKET.test(bucket)) {
    throw new ValidationError(
      name,
      `a bucket name of 3-63 letters, digits, dots, hyphens or underscores in "${text}"`,
    );
  }
  const prefix = match[2] ?? "";
  // No key lies under a longer prefix: a source would list nothing (and `--delete` empty the
  // destination), a destination would fail every key, an index would never be written.
  const bytes = Buffer.byteLength(directoryPrefix(prefix), "utf8");
  if (bytes > MAX_KEY_BYTES) {
    throw new ValidationError(
      name,
      `a prefix of at most ${MAX_KEY_BYTES.toLocaleString("en-US")} bytes of UTF-8 with its trailing "/" (S3's limit on a key: no key lies under a longer one), got ${bytes.toLocaleString("en-US")}`,
    );
  }
  return { bucket, prefix };
}

/**
 * `s3://bucket/prefix/` as a human-readable line shows it: its prefix escaped, since it may hold
 * any character a key holds (one taken from a listing, say).
 */
export function locationText(location: S3Location): string {
  return printable(`s3://${location.bucket}/${directoryPrefix(location.prefix)}`);
}
