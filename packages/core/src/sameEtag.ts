/** ETags compare without their quotes: some servers quote them in one response and not another. */
export function sameEtag(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return false;
  return a.replace(/^"|"$/g, "") === b.replace(/^"|"$/g, "");
}
