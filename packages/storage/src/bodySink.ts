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
 * `into` cannot hold them.
 */
export function land(sink: BodySink, at: number, bytes: Buffer): void {
  const into = sink.into;
  let view = bytes;
  if (into !== undefined) {
    if (at + bytes.length > into.length) throw overlong(at + bytes.length, into.length);
    view = into.subarray(at, at + bytes.length);
    if (view.byteOffset !== bytes.byteOffset || view.buffer !== bytes.buffer) view.set(bytes);
  }
  if (view.length > 0) sink.piece?.(view);
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
  await forEachPiece(body, (piece) => {
    land(
      sink,
      landed,
      Buffer.isBuffer(piece) ? piece : Buffer.from(piece.buffer, piece.byteOffset, piece.length),
    );
    landed += piece.length;
  });
  return landed;
}
