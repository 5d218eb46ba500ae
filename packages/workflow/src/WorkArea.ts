import {
  GetObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { translateS3Error } from "@chunksync/storage";

/**
 * A small key/JSON store where the workflow keeps what does not fit in a state
 * (256 KiB): challenge requests and responses, part lists, per-object results.
 * Keys under `source/` hold what must stay on the source side (expectations);
 * keys under `shared/` are readable by both sides. IAM enforces the split.
 */
export interface WorkArea {
  put(key: string, value: unknown): Promise<void>;
  /** The stored value, or undefined when the key does not exist. */
  get<T = unknown>(key: string): Promise<T | undefined>;
  /** Every key under `prefix`, in key order. */
  list(prefix: string): AsyncIterable<string>;
}

/** Work area in memory: for in-process runs and tests. */
export class MemoryWorkArea implements WorkArea {
  readonly #items = new Map<string, string>();

  async put(key: string, value: unknown): Promise<void> {
    // Stored as JSON text so a reader gets a copy, as it would from S3.
    this.#items.set(key, JSON.stringify(value));
  }

  async get<T>(key: string): Promise<T | undefined> {
    const text = this.#items.get(key);
    return text === undefined ? undefined : (JSON.parse(text) as T);
  }

  async *list(prefix: string): AsyncIterable<string> {
    yield* [...this.#items.keys()].filter((k) => k.startsWith(prefix)).sort();
  }
}

/** Work area in an S3 bucket (a lifecycle rule expires old runs). */
export class S3WorkArea implements WorkArea {
  constructor(
    readonly client: S3Client,
    readonly bucket: string,
  ) {}

  async put(key: string, value: unknown): Promise<void> {
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: JSON.stringify(value),
          ContentType: "application/json",
        }),
      );
    } catch (error) {
      throw translateS3Error(error, { operation: "put", bucket: this.bucket, key });
    }
  }

  async get<T>(key: string): Promise<T | undefined> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return JSON.parse((await out.Body?.transformToString("utf8")) ?? "null") as T;
    } catch (error) {
      const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (e.name === "NoSuchKey" || e.$metadata?.httpStatusCode === 404) return undefined;
      throw translateS3Error(error, { operation: "get", bucket: this.bucket, key });
    }
  }

  async *list(prefix: string): AsyncIterable<string> {
    let token: string | undefined;
    do {
      let page: ListObjectsV2CommandOutput;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
        );
      } catch (error) {
        throw translateS3Error(error, { operation: "list", bucket: this.bucket, key: prefix });
      }
      for (const o of page.Contents ?? []) if (o.Key) yield o.Key;
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }
}
