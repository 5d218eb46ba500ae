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
 * Pours a streamed body (or bytes held) into `sink`: the path for stores and transports that
 * hand bodies out as streams. Resolves with the number of bytes that came.
 */
export async function pour(
  body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  sink: BodySink,
): Promise<number> {
  let landed = 0;
  await forEachPiece(body, (piece) => {
    const into = sink.into;
    let view: Buffer;
    if (into !== undefined) {
      if (landed + piece.length > into.length) throw overlong(landed + piece.length, into.length);
      into.set(piece, landed);
      view = into.subarray(landed, landed + piece.length);
    } else view = Buffer.isBuffer(piece) ? piece : Buffer.from(piece.buffer, piece.byteOffset, piece.length);
    landed += piece.length;
    sink.piece?.(view);
  });
  return landed;
}
