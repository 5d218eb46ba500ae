/** ETags compare without their quotes: some servers quote them in one response and not another. */
export function sameEtag(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return false;
  if (a === b) return true;
  return a.replace(/^"|"$/g, "") === b.replace(/^"|"$/g, "");
}
