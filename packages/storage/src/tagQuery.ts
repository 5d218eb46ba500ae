/**
 * A tag set as the port states one (`ObjectAttributes.tagging`): a URL query, each key and value
 * encoded by encodeURIComponent, in the order given; undefined for no tags. Both stores answer
 * `tagging()` in this form, so a tag set read from either compares alike.
 */
export function tagQuery(tags: Iterable<readonly [string, string]>): string | undefined {
  const pairs = [...tags].map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
  return pairs.length > 0 ? pairs.join("&") : undefined;
}
