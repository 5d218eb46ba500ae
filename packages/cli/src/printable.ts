/**
 * What a terminal would act on rather than show: C0 and C1 controls and DEL (`\p{Cc}`: ESC starts
 * a sequence that can clear the screen, CR overwrites a line, LF forges one), the line and
 * paragraph separators, the bidirectional controls (U+202E shows a key's end first), and lone
 * surrogates (written out as UTF-8 they all become U+FFFD, so two keys would look alike). The
 * backslash is escaped too, so that a rendering reads back to exactly one text.
 */
const UNPRINTABLE = /[\\\p{Cc}\u2028\u2029\p{Bidi_Control}\p{Cs}]/gu;

const NAMED: Readonly<Record<string, string>> = { "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t" };

function escapeOne(c: string): string {
  const code = c.charCodeAt(0);
  // \xHH only below U+0080, so that it cannot be read as one byte of a UTF-8 sequence.
  return NAMED[c] ?? (code < 0x80 ? `\\x${hex(code, 2)}` : `\\u${hex(code, 4)}`);
}

const hex = (code: number, width: number) => code.toString(16).padStart(width, "0");

/**
 * An object key, or any other text that came from storage (an ETag, an upload id, a server's
 * error message), as it may be written to a terminal or a plain-text log: one line that shows
 * every character, much as GNU ls's `--quoting-style=escape` (in hex, not octal). `\n`, `\r`,
 * `\t`, `\\`, `\xHH` (other ASCII controls and DEL) and `\uHHHH` (C1 controls, U+2028, U+2029,
 * bidi controls, lone surrogates) stand for what the text held; everything else, non-ASCII text
 * included, is as it was. `--json` and `--report` carry keys exactly and never pass through this.
 */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, escapeOne);
}
