/**
 * What JSON.stringify writes as it is but a terminal would act on: DEL and the C1 controls
 * (U+009B starts a sequence as ESC [ does: it can clear the screen or set a window title), the
 * line and paragraph separators, and the bidirectional controls (U+202E shows a key's end first).
 * JSON.stringify escapes the C0 controls and lone surrogates itself.
 */
const TERMINAL_ACTS_ON = /[\u007f-\u009f\u2028\u2029\p{Bidi_Control}]/gu;

const escaped = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;

/**
 * `value` as JSON text that shows every character on a terminal (`--json` on one, a report read
 * with `cat`): the characters above stand as `\uHHHH` escapes. Outside strings JSON text is
 * ASCII, so only strings change, and they parse back to exactly what they held.
 */
export function jsonText(value: unknown): string {
  return JSON.stringify(value).replace(TERMINAL_ACTS_ON, escaped);
}
