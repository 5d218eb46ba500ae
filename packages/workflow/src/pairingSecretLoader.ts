import { GetSecretValueCommand, type SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { parsePairingSecret, ValidationError } from "@chunksync/core";

/**
 * The pairing secret, fetched once and kept for `ttlMs` (a warm function does not call
 * Secrets Manager on every invocation; a rotated secret is picked up after the TTL).
 * A failed fetch is not cached.
 */
export function cachedPairingSecret(
  fetchText: () => Promise<string>,
  ttlMs = 5 * 60_000,
  now: () => number = Date.now,
): () => Promise<Buffer> {
  let cached: { value: Promise<Buffer>; at: number } | undefined;
  return () => {
    if (cached === undefined || now() - cached.at > ttlMs) {
      const value = fetchText().then((text) => parsePairingSecret(text, "pairingSecret"));
      cached = { value, at: now() };
      value.catch(() => {
        cached = undefined;
      });
    }
    return cached.value;
  };
}

/** Reads the secret's text from Secrets Manager (the functions' roles may read this one secret only). */
export function secretsManagerText(client: SecretsManagerClient, secretId: string): () => Promise<string> {
  return async () => {
    const out = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
    return out.SecretString ?? Buffer.from(out.SecretBinary ?? new Uint8Array()).toString("utf8");
  };
}

/**
 * The Region of the secret `arn` names. Secrets Manager is regional: a client asks only its own
 * Region's endpoint, which answers ResourceNotFoundException for a secret of another Region even
 * by full ARN, so the destination side's functions (in the destination's Region) must ask the
 * secret's own Region.
 *
 * @throws ValidationError naming `field` when `arn` is no Secrets Manager secret ARN
 */
export function secretRegion(arn: string, field = "env.PAIRING_SECRET_ARN"): string {
  const region = /^arn:aws[a-z-]*:secretsmanager:([a-z0-9-]+):\d{12}:secret:.+$/.exec(arn)?.[1];
  if (region === undefined) throw new ValidationError(field, "a Secrets Manager secret ARN");
  return region;
}
