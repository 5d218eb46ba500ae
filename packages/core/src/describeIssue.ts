import type { z } from "zod";

// Keys come from whoever sent the message; an attacker-chosen megabyte-long key
// must not end up verbatim in an error message or a log line.
const MAX_KEY_CHARS = 64;
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function formatKey(key: PropertyKey): string {
  if (typeof key === "number") return `[${key}]`;
  const text = typeof key === "symbol" ? (key.description ?? "symbol") : key;
  const short = text.length > MAX_KEY_CHARS ? `${text.slice(0, MAX_KEY_CHARS)}...` : text;
  return IDENTIFIER.test(short) ? `.${short}` : `[${JSON.stringify(short)}]`;
}

/** Formats a zod issue path as `answers[3].value`; the empty path becomes `root`. */
export function formatPath(path: readonly PropertyKey[], root: string): string {
  if (path.length === 0) return root;
  const text = path.map(formatKey).join("");
  return text.startsWith(".") ? text.slice(1) : text;
}

/**
 * Turns the first zod issue into a field path and a short "expected ..." text.
 * Only the schema's own words are used, never the offending input, so nothing
 * the sender put in a message is echoed back.
 */
export function describeIssue(issue: z.core.$ZodIssue, root: string): { field: string; expected: string } {
  if (issue.code === "unrecognized_keys") {
    const key = issue.keys[0] ?? "";
    return { field: formatPath([...issue.path, key], root), expected: "no such field (unknown key)" };
  }
  const expected = issue.message.replace(/^Invalid input: expected /, "");
  // Telling "absent" from "wrong" only looks at whether there was a value, not at the value.
  const missing = issue.code === "invalid_type" && issue.input === undefined && issue.path.length > 0;
  return {
    field: formatPath(issue.path, root),
    expected: missing ? `${expected} (the field is missing)` : expected,
  };
}
