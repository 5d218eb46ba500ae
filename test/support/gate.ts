/**
 * A promise held until `release` is called: a test holds a store's call, a request or a step
 * there until it has seen what it waits for, then lets it go on.
 */
export function gate(): { held: Promise<void>; release: () => void } {
  let release = () => {};
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  return { held, release };
}
