/** Real invocations each run command's `--help` ends with. */
export function examples(command: "check" | "plan" | "sync"): string {
  const dryRun =
    command === "sync"
      ? "\n  # what sync would move, writing nothing (the same as plan)\n  chunksync sync s3://photos s3://photos-backup --dry-run \\\n    --src-profile prod --dst-profile backup\n"
      : "";
  return `
Examples:
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
