/** Byte counters of a run; every figure the summary and `--json` print comes from here. */
export interface ByteCounts {
  /** Bytes read from the source side (digesting and uploading). */
  sourceRead: number;
  /** Bytes read from the destination side (digesting). */
  destinationRead: number;
  /**
   * Bytes that crossed from the source side to the destination side: parts read from the source
   * and the source pieces of assembled parts.
   */
  transferred: number;
  /** Bytes the destination side uploaded (PutObject, UploadPart): what crossed and the old bytes of assembled parts. */
  uploaded: number;
  /** Bytes the servers copied without passing through this process (UploadPartCopy, CopyObject). */
  copiedServerSide: number;
}

export interface ObjectCounts {
  scanned: number;
  identical: number;
  changed: number;
  missing: number;
  extra: number;
  deleted: number;
  failed: number;
  /** Objects that cannot be read as stored (archive classes); reported, never silently passed over. */
  unreadable: number;
}

/** Live counters, read by progress displays while a run is going on. */
export class RunStats {
  readonly bytes: ByteCounts = {
    sourceRead: 0,
    destinationRead: 0,
    transferred: 0,
    uploaded: 0,
    copiedServerSide: 0,
  };
  readonly objects: ObjectCounts = {
    scanned: 0,
    identical: 0,
    changed: 0,
    missing: 0,
    extra: 0,
    deleted: 0,
    failed: 0,
    unreadable: 0,
  };
  /** Objects whose processing finished, whatever the outcome (destination-only ones included). */
  done = 0;
  /** Source bytes of the objects scanned so far. */
  sourceBytesScanned = 0;
  /** Destination objects listed so far (the direct engine merges both listings as they come). */
  destinationListed = 0;
  /** Both listings are complete: `objects.scanned` and `destinationOnly` no longer grow. */
  listed = false;
  /** Objects only the destination holds; final once `listed`. They settle as the merge finds them. */
  destinationOnly = 0;
  /**
   * Bytes of work planned so far: digesting both sides of each listed pair, then, as each
   * write is planned, its parts (uploaded or copied server-side) and the reads that verify
   * it. A write is planned only once its object is compared, so this grows while writes remain
   * to be planned; `workDone` can pass it when reads are retried or objects restart.
   */
  plannedWork = 0;
  /**
   * Bytes a side took from what it had kept of an earlier read of the same version, where the
   * plan counted a read (the direct engine's kept chunks and old bytes): work done, not a read.
   */
  keptRead = 0;
  /**
   * Bytes of planned work the digest indexes answered for (a side's object compared from its
   * entry): done with no byte read, so not in `workDone`, whose rate is the run's reading speed.
   */
  answeredWork = 0;
  /**
   * Bytes of streamed objects' bodies handed to their PUTs and not yet stored: the status line's
   * "sent" counts them as they go, where `bytes.transferred` counts an object only once stored.
   */
  sending = 0;
  readonly startedAt = Date.now();

  /** Bytes of work done, in the units of `plannedWork`: every byte read on either side (or taken from what was kept of a read) or copied by a server. */
  get workDone(): number {
    return this.bytes.sourceRead + this.bytes.destinationRead + this.keptRead + this.bytes.copiedServerSide;
  }
}
