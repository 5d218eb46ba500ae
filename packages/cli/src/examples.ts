/** The two-sided examples each run command's `--help` ends with. */
function runExamples(command: "check" | "plan" | "sync"): string {
  const dryRun =
    command === "sync"
      ? "\n  # what sync would move, writing nothing (the same as plan)\n  chunksync sync s3://photos s3://photos-backup --dry-run \\\n    --src-profile prod --dst-profile backup\n"
      : "";
  return `
  # two AWS accounts in two regions, one profile per side
  chunksync ${command} s3://photos/2024 s3://photos-backup/2024 \\
    --src-profile prod --src-region eu-west-1 \\
    --dst-profile backup --dst-region eu-central-1

  # from AWS to a MinIO server (credentials from the profile "minio")
  chunksync ${command} s3://photos s3://photos-copy \\
    --src-profile prod --dst-profile minio --dst-endpoint http://minio.local:9000

  # only the .jpg keys, at any depth, leaving out tmp/ (filters: later ones win)
  chunksync ${command} s3://photos s3://photos-backup --src-profile prod --dst-profile backup \\
    --exclude '**' --include '**/*.jpg' --exclude 'tmp/**'
${dryRun}`;
}

const EXAMPLES = {
  check: runExamples("check"),
  plan: runExamples("plan"),
  sync: runExamples("sync"),
  audit: `
  # prove that a 1% sample of the ranges (the default) is held alike on both sides
  chunksync audit s3://photos s3://photos-backup --src-profile prod --dst-profile backup

  # every byte, after an incident, with a JSON report for a script
  chunksync audit s3://photos s3://photos-backup --src-profile prod --dst-profile backup \\
    --full --json
`,
  scrub: `
  # after an audit found a difference: did the destination's bytes rot? (5% of its chunks)
  chunksync scrub s3://photos-backup --profile backup --sample 5%

  # every chunk, of an index kept in a bucket under the syncs' pairing secret
  chunksync scrub s3://photos-backup --profile backup --full \\
    --index s3://backup-meta/chunksync-index --secret-file pairing.key
`,
  cleanup: `
  # what would be aborted, then abort uploads started more than a day ago
  chunksync cleanup s3://photos-backup --dst-profile backup --older-than 1d --dry-run
  chunksync cleanup s3://photos-backup --dst-profile backup --older-than 1d
`,
} as const;

/** Real invocations each command's `--help` ends with. */
export function examples(command: keyof typeof EXAMPLES): string {
  return `\nExamples:${EXAMPLES[command]}`;
}
