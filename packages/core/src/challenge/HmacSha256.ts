import { hash } from "node:crypto";

/** SHA-256's block: HMAC pads its key to this. */
const BLOCK = 64;
const DIGEST = 32;

/**
 * HMAC-SHA256 (RFC 2104) under one key for many short messages, each from two one-shot
 * SHA-256 calls over buffers made once: `H((K ^ opad) || H((K ^ ipad) || m))`. The same bytes
 * as `createHmac("sha256", key)`, without a native HMAC object per message: a block round tags
 * hundreds of thousands of blocks, and each object's native state outlived it until the
 * collector ran (issue 12's memory bound). Not for concurrent use (one buffer serves every call).
 */
export class HmacSha256 {
  /** `K ^ ipad` followed by the message being tagged (grown for longer messages). */
  #inner: Buffer;
  /** `K ^ opad` followed by the inner digest. */
  readonly #outer = Buffer.alloc(BLOCK + DIGEST);

  constructor(key: Uint8Array) {
    const k = key.length > BLOCK ? hash("sha256", key, "buffer") : key;
    this.#inner = Buffer.alloc(2 * BLOCK);
    for (let i = 0; i < BLOCK; i++) {
      this.#inner[i] = (k[i] ?? 0) ^ 0x36;
      this.#outer[i] = (k[i] ?? 0) ^ 0x5c;
    }
  }

  /** The MAC of `first || second` (32 bytes). */
  mac(first: Uint8Array, second: Uint8Array = new Uint8Array(0)): Buffer {
    const length = BLOCK + first.length + second.length;
    if (this.#inner.length < length) {
      const grown = Buffer.alloc(Math.max(length, 2 * this.#inner.length));
      this.#inner.copy(grown, 0, 0, BLOCK);
      this.#inner = grown;
    }
    this.#inner.set(first, BLOCK);
    if (second.length > 0) this.#inner.set(second, BLOCK + first.length);
    // TypedArray#set, not Buffer#copy: no trip through Node's argument checks, per message.
    this.#outer.set(hash("sha256", this.#message(length), "buffer"), BLOCK);
    return hash("sha256", this.#outer, "buffer");
  }

  /** The first `length` bytes of the inner buffer; kept, since a run's messages mostly have one length. */
  #view: Buffer | undefined;
  #message(length: number): Buffer {
    if (this.#view?.length !== length || this.#view.buffer !== this.#inner.buffer)
      this.#view = this.#inner.subarray(0, length);
    return this.#view;
  }
}
