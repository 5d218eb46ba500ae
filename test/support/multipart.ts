import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  type S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";

/**
 * Writes `size` bytes by multipart upload in parts of `partSize`, each part's bytes asked of
 * `bytes` as it goes (a large object never sits in memory): the object's ETag is the MD5 of its
 * parts' MD5s and their count, not the MD5 of its bytes.
 */
export async function putMultipart(
  client: S3Client,
  bucket: string,
  key: string,
  size: number,
  partSize: number,
  bytes: (offset: number, length: number) => Uint8Array,
): Promise<void> {
  const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
  const parts: { PartNumber: number; ETag: string }[] = [];
  for (let offset = 0; offset < size; offset += partSize) {
    const Body = bytes(offset, Math.min(partSize, size - offset));
    const PartNumber = parts.length + 1;
    const { ETag } = await client.send(
      new UploadPartCommand({
        Bucket: bucket,
        Key: key,
        UploadId,
        PartNumber,
        Body,
        ContentLength: Body.length,
      }),
    );
    parts.push({ PartNumber, ETag: ETag ?? "" });
  }
  await client.send(
    new CompleteMultipartUploadCommand({
      Bucket: bucket,
      Key: key,
      UploadId,
      MultipartUpload: { Parts: parts },
    }),
  );
}
