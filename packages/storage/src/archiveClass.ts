const ARCHIVE_CLASSES = new Set(["GLACIER", "DEEP_ARCHIVE"]);

/** Whether objects of `storageClass` must be restored before they can be read. */
export function isArchiveClass(storageClass: string | undefined): boolean {
  return storageClass !== undefined && ARCHIVE_CLASSES.has(storageClass);
}
