import type { S3Client } from "@aws-sdk/client-s3";

/** The latest Date header each client's server sent, in ms since the epoch. */
const clocks = new WeakMap<S3Client, { latest: number | undefined }>();

/**
 * What `client`'s server last said the time was (its Date header, whole seconds). The first
 * call installs a middleware that reads the header of every response, errors included.
 */
export function serverClockOf(client: S3Client): () => number | undefined {
  let clock = clocks.get(client);
  if (clock === undefined) {
    const state: { latest: number | undefined } = { latest: undefined };
    clock = state;
    clocks.set(client, state);
    const note = (response: unknown) => {
      const date = (response as { headers?: Record<string, string> } | undefined)?.headers?.date;
      const time = date === undefined ? Number.NaN : Date.parse(date);
      if (!Number.isNaN(time) && (state.latest === undefined || time > state.latest)) state.latest = time;
    };
    client.middlewareStack.add(
      (next) => async (args) => {
        try {
          const out = await next(args);
          note(out.response);
          return out;
        } catch (error) {
          note((error as { $response?: unknown }).$response);
          throw error;
        }
      },
      { step: "deserialize", name: "chunksyncServerClock" },
    );
  }
  const state = clock;
  return () => state.latest;
}
