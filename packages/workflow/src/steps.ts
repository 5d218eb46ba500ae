import type { z } from "zod";
import { AUDIT_DESTINATION_STEPS } from "./audit/auditSteps.js";
import type { DestinationContext, RunSettings, SourceContext } from "./context.js";
import {
  destinationAbort,
  destinationAnswer,
  destinationAnswerBlocks,
  destinationBegin,
  destinationComplete,
  destinationCompose,
  destinationExtras,
  destinationHead,
  destinationIndexCommit,
  destinationPageLookup,
} from "./destinationSteps.js";
import {
  BatchEvent,
  BlockEvent,
  CommitIndexEvent,
  DecideEvent,
  type DestinationTarget,
  ListPageEvent,
  ObjectEvent,
  PageEvent,
  PageItemsEvent,
  PrepareEvent,
  parseEvent,
  RecordEvent,
  ReportEvent,
  WriteBatchEvent,
} from "./events.js";
import { copyPage, prepareCopies, recordCopies } from "./pageCopy.js";
import { answerPage, challengePage, comparePage } from "./pageDecision.js";
import {
  commitSourceIndex,
  confirmDestinationOnly,
  decide,
  indexSourcePage,
  listSourcePage,
  matchBlocks,
  prepareSource,
  presignBatch,
  recordResult,
  sourceChallenge,
  sourceCompare,
  writeReport,
} from "./sourceSteps.js";
import { runCounted } from "./stepBytes.js";
import type { WorkArea } from "./WorkArea.js";

/** A step: its event schema and the use case it calls. Handlers and the local runner share these. */
export interface Step<C> {
  schema: z.ZodType;
  run(ctx: C, event: unknown): Promise<unknown>;
}

function step<C extends RunSettings & { work: WorkArea }, S extends z.ZodType>(
  schema: S,
  run: (ctx: C, event: z.infer<S>) => Promise<unknown>,
): Step<C> {
  return {
    schema,
    run: (ctx, event) => {
      const parsed = parseEvent(schema, event) as z.infer<S>;
      // A failed step's bytes count for its object all the same (see stepBytes).
      return runCounted(ctx, parsed, (counting) => run(counting, parsed));
    },
  };
}

/** Source-side steps: they read the source bucket and the whole work area. */
export const SOURCE_STEPS = {
  listSource: step(ListPageEvent, listSourcePage),
  sourcePageChallenge: step(PageItemsEvent, challengePage),
  sourcePageCompare: step(PageItemsEvent, comparePage),
  sourcePagePrepare: step(PageItemsEvent, prepareCopies),
  sourcePageRecord: step(PageItemsEvent, recordCopies),
  sourcePrepare: step(PrepareEvent, prepareSource),
  sourceChallenge: step(BatchEvent, sourceChallenge),
  sourceCompare: step(BatchEvent, sourceCompare),
  sourceMatchBlocks: step(BlockEvent, matchBlocks),
  sourceDecide: step(DecideEvent, decide),
  sourcePresign: step(WriteBatchEvent, presignBatch),
  sourceRecord: step(RecordEvent, recordResult),
  sourceIndexPage: step(PageEvent, indexSourcePage),
  sourceConfirmExtras: step(PageEvent, confirmDestinationOnly),
  sourceIndexCommit: step(CommitIndexEvent, commitSourceIndex),
  sourceReport: step(ReportEvent, (ctx: SourceContext, e) => writeReport(ctx.work, e)),
} satisfies Record<string, Step<SourceContext>>;

export type SourceFunction = keyof typeof SOURCE_STEPS;

/** Destination-side steps: they read and write the destination bucket and the shared work area. */
export const DESTINATION_STEPS = {
  destinationHead: step(PrepareEvent, destinationHead),
  destinationAnswer: step(BatchEvent, destinationAnswer),
  destinationAnswerBlocks: step(BlockEvent, destinationAnswerBlocks),
  destinationBegin: step(ObjectEvent, destinationBegin),
  destinationCompose: step(WriteBatchEvent, destinationCompose),
  destinationComplete: step(ObjectEvent, destinationComplete),
  destinationAbort: step(ObjectEvent, destinationAbort),
  destinationExtras: step(PageEvent, destinationExtras),
  destinationPageLookup: step(PageEvent, destinationPageLookup),
  destinationPageAnswer: step(PageEvent, answerPage),
  destinationPageCopy: step(PageEvent, copyPage),
  destinationIndexCommit: step(CommitIndexEvent, destinationIndexCommit),
  // The audit's destination steps: the relay reaches them like the sync's.
  ...AUDIT_DESTINATION_STEPS,
} satisfies Record<DestinationTarget, Step<DestinationContext>>;

/** Every function the state machine invokes directly (all in the source region). */
export type StateMachineFunction = SourceFunction | "relay";
