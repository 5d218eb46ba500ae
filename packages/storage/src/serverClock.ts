import type { S3Client } from "@aws-sdk/client-s3";

/** The latest Date header each client's server sent, in ms since the epoch. */
const clocks = new WeakMap<S3Client, { latest: number | undefined }>();

function note(clock: { latest: number | undefined }, date: string | undefined): void {
  const time = date === undefined ? Number.NaN : Date.parse(date);
  if (!Number.isNaN(time) && (clock.latest === undefined || time > clock.latest)) clock.latest = time;
}

/**
 * The clock of `client`'s server. The first call installs a middleware that reads the Date
 * header of every response the SDK receives, errors included.
 */
function clockOf(client: S3Client): { latest: number | undefined } {
  let clock = clocks.get(client);
  if (clock === undefined) {
    const state: { latest: number | undefined } = { latest: undefined };
    clock = state;
    clocks.set(client, state);
    const noteResponse = (response: unknown) =>
      note(state, (response as { headers?: Record<string, string> } | undefined)?.headers?.date);
    client.middlewareStack.add(
      (next) => async (args) => {
        try {
          const out = await next(args);
          noteResponse(out.response);
          return out;
        } catch (error) {
          noteResponse((error as { $response?: unknown }).$response);
          throw error;
        }
      },
      { step: "deserialize", name: "chunksyncServerClock" },
    );
  }
  return clock;
}

/** What `client`'s server last said the time was (its Date header, whole seconds). */
export function serverClockOf(client: S3Client): () => number | undefined {
  const clock = clockOf(client);
  return () => clock.latest;
}

/** Notes the Date header of a response to a request `client`'s settings sent outside the SDK. */
export function noteServerDate(client: S3Client, date: string | undefined): void {
  note(clockOf(client), date);
}
