import { forEachPiece } from "@chunksync/core";

/**
 * Where a read's body goes. With `into`, its bytes land in it from its start (over plain HTTP
 * read from the socket straight into it, see PlainGets); without, they pass through a buffer
 * the store reuses. `piece` is handed each run of bytes as it lands: a view of `into` or of
 * that buffer, valid only until it returns (copy what is to be kept).
 */
export interface BodySink {
  into?: Buffer;
  piece?(bytes: Buffer): void;
  /**
   * For a body longer than any one buffer the sink holds (see HalvesReader), in place of `into`:
   * the buffer the bytes from offset `at` of the body land in, from its start, as many as it
   * holds; or, while none is free, a promise of it, and the read waits (over plain HTTP its socket
   * pauses) until then. Each run of bytes is then handed to `piece` as a view of it.
   */
  room?(at: number): Buffer | Promise<Buffer>;
}

/** A body that is longer than the buffer it is read into: the answer is not the range asked for. */
export function overlong(length: number, room: number): Error & { code: string } {
  return Object.assign(new Error(`the server sent more than the ${room} bytes asked for (${length})`), {
    code: "UND_ERR_RES_CONTENT_LENGTH_MISMATCH",
  });
}

/**
 * Hands `bytes`, the body's bytes from offset `at`, to `sink`: copied into `into` there unless
 * they were read there, then (as a view of `into`, or as they are) to `piece`. Throws where
 * `into` cannot hold them. Into a sink's rooms (see `BodySink.room`) they land the same way,
 * and where one is not free yet the promise returned settles once all have landed: the caller
 * reads no more meanwhile, and leaves `bytes` as they are.
 */
export function land(sink: BodySink, at: number, bytes: Buffer): Promise<void> | undefined {
  if (sink.room) return landInRooms(sink, sink.room, at, bytes);
  const into = sink.into;
  let view = bytes;
  if (into !== undefined) {
    if (at + bytes.length > into.length) throw overlong(at + bytes.length, into.length);
    view = into.subarray(at, at + bytes.length);
    place(view, bytes);
  }
  if (view.length > 0) sink.piece?.(view);
  return undefined;
}

/** Copies `bytes` into `view`, unless they were read there (the same memory). */
function place(view: Buffer, bytes: Buffer): void {
  if (view.byteOffset !== bytes.byteOffset || view.buffer !== bytes.buffer) view.set(bytes);
}

/** {@link land} into the rooms `room` hands out, waiting where one is not free yet. */
function landInRooms(
  sink: BodySink,
  room: (at: number) => Buffer | Promise<Buffer>,
  at: number,
  bytes: Buffer,
): Promise<void> | undefined {
  let done = 0;
  const fill = (into: Buffer) => {
    const n = Math.min(into.length, bytes.length - done);
    const view = into.subarray(0, n);
    place(view, bytes.subarray(done, done + n));
    done += n;
    if (n > 0) sink.piece?.(view);
  };
  while (done < bytes.length) {
    const into = room(at + done);
    if (!Buffer.isBuffer(into)) {
      return into.then(async (free) => {
        fill(free);
        if (done < bytes.length) await landInRooms(sink, room, at + done, bytes.subarray(done));
      });
    }
    if (into.length === 0) throw overlong(at + bytes.length, at + done);
    fill(into);
  }
  return undefined;
}

/** `sink`, with `count` told the length of each run of bytes as it lands (a side's bytes read). */
export function counting(sink: BodySink, count: (bytes: number) => void): BodySink {
  return {
    ...sink,
    piece: (bytes) => {
      count(bytes.length);
      sink.piece?.(bytes);
    },
  };
}

/**
 * Pours a streamed body (or bytes held) into `sink`: the path for stores and transports that
 * hand bodies out as streams. Resolves with the number of bytes that came.
 */
export async function pour(
  body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  sink: BodySink,
): Promise<number> {
  let landed = 0;
  const bytes = (piece: Uint8Array) =>
    Buffer.isBuffer(piece) ? piece : Buffer.from(piece.buffer, piece.byteOffset, piece.length);
  if (sink.room === undefined) {
    await forEachPiece(body, (piece) => {
      land(sink, landed, bytes(piece));
      landed += piece.length;
    });
    return landed;
  }
  // No piece is asked for (a stream is not read) while one waits for room.
  for await (const piece of body) {
    const waiting = land(sink, landed, bytes(piece));
    landed += piece.length;
    if (waiting) await waiting;
  }
  return landed;
}
