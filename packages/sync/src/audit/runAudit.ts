import { setMaxListeners } from "node:events";
import {
  type AuditRequest,
  type AuditResponse,
  auditRequest,
  checkDestinationKey,
  compareUtf8,
  directoryPrefix,
  drawAuditNonce,
  formatSampleSpec,
  type RandomSource,
  type RangeVerdict,
  type SampledObject,
  Sampler,
  type SampleSpec,
  unseenProbability,
} from "@chunksync/core";
import type { ObjectReader, ObjectSummary } from "@chunksync/storage";
import { describeError } from "../errorCodes.js";
import { RunAbortedError } from "../errors.js";
import { type KeyRule, keySelection } from "../keyFilter.js";
import { forEachConcurrent, LISTING_READ_AHEAD, Limiter, readAhead } from "../Limiter.js";
import { mergeListings } from "../mergeListings.js";
import { type AuditSide, answerAudit, auditObject } from "./auditSides.js";

/** Ranges that differ, named one by one in a report; beyond it they are only counted. */
const MAX_NAMED = 10_000;
/** The corrupted fractions a report states the chance of having missed. */
const UNSEEN_FRACTIONS = [0.001, 0.01, 0.1] as const;

export interface AuditOptions {
  source: ObjectReader;
  sourcePrefix: string;
  destination: ObjectReader;
  destinationPrefix: string;
  /** The pairing secret both sides hold: possession values are keyed by it. */
  secret: Buffer;
  sample: SampleSpec;
  /** The unit drawn: each object is cut into ranges of this many bytes (its last one shorter). */
  rangeSize: number;
  /** Ranged reads in flight at once, and objects in progress at once. */
  concurrency: number;
  /** Include/exclude globs over keys relative to the prefixes (see keyFilter). */
  filters: readonly KeyRule[];
  /** Randomness of the sample and the nonce: the CSPRNG unless a test injects a seeded one. */
  random?: RandomSource;
  /**
   * How the destination answers a request; by default this process reads the destination
   * itself. Another engine passes its own (the request crosses to the destination's plane).
   */
  answer?: (request: AuditRequest, listed: ObjectSummary) => Promise<AuditResponse>;
  signal?: AbortSignal;
}

/** One range (or whole object) an audit found not held alike by both sides. */
export interface AuditDifference {
  key: string;
  /** Absent for an object missing on the destination altogether, or of another size there. */
  offset?: number;
  length?: number;
  /** The destination object's size, where it is not the source's (`size`). */
  destinationSize?: number;
  /**
   * `missing`: the object, or this range of it, is not on the destination. `size`: the
   * destination's object has another size, which the listings show whatever ranges are drawn
   * (extra bytes past the source's end, or a source of 0 bytes, leave no range to differ).
   */
  status: "differs" | "missing" | "size";
}

/** What an audit did and found; `--json` prints it. */
export interface AuditReport {
  startedAt: string;
  durationMs: number;
  sample: string;
  rangeSize: number;
  objects: {
    /** Source objects listed (after filters). */
    listed: number;
    /** Objects with at least one range drawn. */
    sampled: number;
    /** Source objects with no destination counterpart. */
    missing: number;
    /** Source objects whose destination counterpart has another size. */
    resized: number;
    /** Destination objects with no source counterpart (not audited: the source draws). */
    extra: number;
    /** Objects whose audit failed (an error, or the object changed under the audit). */
    failed: number;
  };
  ranges: { sampled: number; equal: number; differs: number; missing: number };
  bytes: { listed: number; sampled: number; sourceRead: number; destinationRead: number };
  /** Ranges (and objects) not held alike, in key order per object; at most 10,000 named. */
  differences: AuditDifference[];
  /** Differences counted but not named beyond the first 10,000. */
  differencesNotNamed: number;
  failures: { key: string; code: string; message: string }[];
  /**
   * Whether every range of every object the destination holds was read and judged (`--full`, or
   * a count as large as the listing, with no object failed; at least one range): then no
   * corruption went unseen.
   */
  everyRangeRead: boolean;
  /**
   * The chance that corruption of a fraction f of the ranges went unseen: 0 when every range was
   * read, else at most (1 - f)^k for the k ranges read and judged.
   */
  unseen: { fraction: number; probability: number }[];
  /** Stopped (its signal) before it judged every object drawn: what it found until then. */
  interrupted: boolean;
}

/**
 * Adds up an audit as its objects are listed, drawn and judged, in either engine: the one
 * place a report's figures come from.
 */
export class AuditTally {
  readonly report: AuditReport;
  readonly #started: number;
  /** The ranges of the listed objects the destination holds: those a full audit reads. */
  #ranges = 0;

  constructor(sample: SampleSpec, rangeSize: number, started = Date.now()) {
    this.#started = started;
    this.report = {
      startedAt: new Date(started).toISOString(),
      durationMs: 0,
      sample: formatSampleSpec(sample),
      rangeSize,
      objects: { listed: 0, sampled: 0, missing: 0, resized: 0, extra: 0, failed: 0 },
      ranges: { sampled: 0, equal: 0, differs: 0, missing: 0 },
      bytes: { listed: 0, sampled: 0, sourceRead: 0, destinationRead: 0 },
      differences: [],
      differencesNotNamed: 0,
      failures: [],
      everyRangeRead: false,
      unseen: [],
      interrupted: false,
    };
  }

  /**
   * A source object listed (after filters); `present` says whether the destination has it, and
   * `destinationSize` is its size there where known.
   */
  listed(key: string, size: number, present: boolean, destinationSize?: number): void {
    this.report.objects.listed++;
    this.report.bytes.listed += size;
    if (present) this.#ranges += Math.ceil(size / this.report.rangeSize);
    if (!present) {
      this.report.objects.missing++;
      this.#name({ key, status: "missing" });
    } else if (destinationSize !== undefined && destinationSize !== size) {
      this.report.objects.resized++;
      this.#name({ key, destinationSize, status: "size" });
    }
  }

  /** An object of which `ranges` ranges of `bytes` bytes in all were drawn. */
  sampled(ranges: number, bytes: number): void {
    this.report.objects.sampled++;
    this.report.ranges.sampled += ranges;
    this.report.bytes.sampled += bytes;
  }

  judged(key: string, verdicts: readonly RangeVerdict[]): void {
    for (const v of verdicts) {
      this.report.ranges[v.status]++;
      if (v.status !== "equal") this.#name({ key, offset: v.offset, length: v.length, status: v.status });
    }
  }

  failed(key: string, failure: { code: string; message: string }): void {
    this.report.objects.failed++;
    this.report.failures.push({ key, ...failure });
  }

  /**
   * The report, differences in key order, with the chance of corruption having gone unseen (0
   * once every range was read).
   */
  /** The report; `interrupted`, of an audit stopped before it judged every object drawn. */
  finish(interrupted = false): AuditReport {
    const report = this.report;
    report.interrupted = interrupted;
    report.differences.sort((a, b) => compareUtf8(a.key, b.key) || (a.offset ?? -1) - (b.offset ?? -1));
    report.failures.sort((a, b) => compareUtf8(a.key, b.key));
    // An audit that read nothing proves nothing, whatever there was to read.
    report.everyRangeRead =
      !interrupted &&
      report.objects.failed === 0 &&
      report.ranges.sampled > 0 &&
      report.ranges.sampled === this.#ranges;
    report.unseen = UNSEEN_FRACTIONS.map((fraction) => ({
      fraction,
      probability: report.everyRangeRead ? 0 : unseenProbability(fraction, report.ranges.sampled),
    }));
    report.durationMs = Date.now() - this.#started;
    return report;
  }

  #name(difference: AuditDifference): void {
    if (this.report.differences.length < MAX_NAMED) this.report.differences.push(difference);
    else this.report.differencesNotNamed++;
  }
}

interface Pair {
  relative: string;
  source: ObjectSummary;
  destination: ObjectSummary;
}

/**
 * Audits that the destination still holds the source's bytes, at a sampled cost: the source
 * draws a fresh nonce and a sample of byte ranges of its objects; each side reads only those
 * ranges of its own object (pinned to the listed ETag) and keys a value over the context, the
 * nonce and the bytes; the source compares. No digest index is consulted, so rot under an
 * unchanged ETag and LastModified shows. Object failures are reported, not thrown.
 */
export async function runAudit(options: AuditOptions): Promise<AuditReport> {
  const started = Date.now();
  const signal = options.signal;
  if (signal) setMaxListeners(0, signal);
  const limiter = new Limiter(options.concurrency);
  const random = options.random;
  const nonce = drawAuditNonce(random);
  const sourcePrefix = directoryPrefix(options.sourcePrefix);
  const destinationPrefix = directoryPrefix(options.destinationPrefix);
  const selected = keySelection(options.filters);
  const sampler = new Sampler<Pair>(options.sample, options.rangeSize, random);
  const tally = new AuditTally(options.sample, options.rangeSize, started);
  const report = tally.report;
  const side = (store: ObjectReader, which: "source" | "destination"): AuditSide => ({
    store,
    side: which,
    secret: options.secret,
    limiter,
    onRead: (n) => {
      report.bytes[which === "source" ? "sourceRead" : "destinationRead"] += n;
    },
    ...(signal ? { signal } : {}),
  });
  const source = side(options.source, "source");
  const destination = side(options.destination, "destination");
  const answer =
    options.answer ??
    ((request: AuditRequest, listed: ObjectSummary) => answerAudit(destination, request, listed));

  async function* drawn(): AsyncGenerator<SampledObject<Pair>> {
    const listing = (which: "source" | "destination", store: ObjectReader, prefix: string) => ({
      side: which,
      prefix,
      objects: readAhead(store.list(prefix, signal), LISTING_READ_AHEAD),
    });
    for await (const key of mergeListings(
      listing("source", options.source, sourcePrefix),
      listing("destination", options.destination, destinationPrefix),
    )) {
      if (!selected(key.relative)) continue;
      if (!key.source) {
        report.objects.extra++;
        continue;
      }
      // A key S3 cannot hold fails alone (EMPTY_KEY, KEY_TOO_LONG), as sync fails it.
      if (!key.destination) {
        try {
          checkDestinationKey(destinationPrefix + key.relative);
        } catch (error) {
          tally.listed(key.relative, key.source.size, true);
          tally.failed(key.relative, describeError(error));
          continue;
        }
      }
      tally.listed(key.relative, key.source.size, key.destination !== undefined, key.destination?.size);
      if (!key.destination) continue;
      const sampled = sampler.offer(
        { relative: key.relative, source: key.source, destination: key.destination },
        key.source.size,
      );
      if (sampled) yield sampled;
    }
    yield* sampler.rest();
  }

  const judged = forEachConcurrent(
    readAhead(drawn(), options.concurrency * 4),
    options.concurrency,
    async (object) => {
      const { item, ranges } = object;
      const request = auditRequest(
        {
          nonce,
          source: { bucket: options.source.bucket, key: item.source.key, etag: item.source.etag },
          destination: {
            bucket: options.destination.bucket,
            key: item.destination.key,
            etag: item.destination.etag,
          },
          ranges,
        },
        random,
      );
      try {
        const verdicts = await auditObject(source, (r) => answer(r, item.destination), request);
        // Counted once judged, as the workflow's report step counts: a failed object's ranges
        // were not, and would lower the stated chance of corruption having gone unseen.
        tally.sampled(
          ranges.length,
          ranges.reduce((sum, r) => sum + r.length, 0),
        );
        tally.judged(item.relative, verdicts);
      } catch (error) {
        if (signal?.aborted) throw new RunAbortedError(error);
        tally.failed(item.relative, describeError(error));
      }
    },
  );
  try {
    await judged;
  } catch (error) {
    // A stop reports what was judged until then.
    if (!signal?.aborted) throw error;
    return tally.finish(true);
  }
  return tally.finish();
}
