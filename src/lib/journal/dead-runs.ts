// Every intent gets an outcome. An intent whose process has ended (kill -9, a crash, power loss)
// without journalling its outcome is closed by the next command that writes to the journal:
// outcome `interrupted`, with the state read back where the caller can read it.
import type { Actor, Journal, JournalEntry, JournalRecord } from "./journal.js";
import { processGone } from "./process-identity.js";

/** What was found when the state an interrupted intent left behind was read back. */
export type ReadBack = Pick<JournalRecord, "state" | "verification" | "details" | "next">;

/** Intents without an outcome whose process is known to have ended. */
export function deadOpenIntents(entries: JournalEntry[]): JournalEntry[] {
  const closed = new Set(entries.filter((e) => e.type === "outcome" && e.intentSeq !== undefined).map((e) => e.intentSeq));
  return entries.filter((e) => e.type === "intent" && !closed.has(e.seq) && processGone(runOf(e)));
}

/** The process that wrote an intent: its `process` field, or (older entries) params.pid and the actor's host. */
function runOf(intent: JournalEntry): JournalEntry["process"] {
  if (intent.process) return intent.process;
  const pid = Number(intent.params?.pid);
  return Number.isInteger(pid) && pid > 0 ? { host: intent.actor.host, pid } : undefined;
}

/**
 * Close the intents of dead runs: read each one's state back (`readBack` may fail: then the
 * outcome says it could not), journal outcome `interrupted`. Returns the outcomes written.
 */
export async function closeDeadRuns(journal: Pick<Journal, "append" | "entries">, actor: Actor, readBack: (intent: JournalEntry) => Promise<ReadBack>): Promise<JournalEntry[]> {
  const written: JournalEntry[] = [];
  for (const intent of deadOpenIntents(journal.entries())) {
    let found: ReadBack;
    try {
      found = await readBack(intent);
    } catch (error) {
      found = { state: `not read back (${(error as Error).message}); check it with \`dropkeys status\`` };
    }
    // Another process may have closed it meanwhile.
    if (journal.entries().some((e) => e.type === "outcome" && e.intentSeq === intent.seq)) continue;
    written.push(
      journal.append({
        type: "outcome",
        operation: intent.operation,
        requestId: intent.requestId,
        intentSeq: intent.seq,
        target: intent.target,
        actor,
        reason: intent.reason,
        incident: intent.incident,
        outcome: "interrupted",
        ...found,
        details: { ...found.details, closedAfterProcessEnded: runOf(intent) },
      }),
    );
  }
  return written;
}
