// Why a key or secret is in the state AWS reports: the last outcome the journal holds for it. A
// state the journal explains (a key disabled under an incident, a deletion an approved request
// scheduled) is said with that request; a state the journal does not explain (a key disabled,
// re-enabled or scheduled for deletion, or a secret whose AWSCURRENT moved, with no entry for it)
// was changed outside dropkeys.
import type { JournalEntry } from "../lib/journal/journal.js";
import { formatLocal } from "../lib/time.js";

/** The key state each journalled operation leaves behind. */
const KEY_STATE_AFTER: Record<string, string> = {
  generate: "Enabled",
  enable: "Enabled",
  "reencrypt-enable-source": "Enabled",
  disable: "Disabled",
  "reencrypt-disable-source": "Disabled",
  "cancel-deletion": "Disabled",
  "schedule-deletion": "PendingDeletion",
};

export type Explained = { explained: string } | { outside: string } | undefined;

function lastOutcome(entries: JournalEntry[], matches: (e: JournalEntry) => boolean, operations: Set<string>): JournalEntry | undefined {
  let last: JournalEntry | undefined;
  for (const e of entries) if (e.type === "outcome" && e.outcome === "succeeded" && operations.has(e.operation) && matches(e)) last = e;
  return last;
}

const since = (e: JournalEntry) => formatLocal(new Date(e.time));
const request = (e: JournalEntry) => (e.requestId ? `request ${e.requestId}` : `journal entry ${e.seq}`);

/** A KMS key's state against the journal's last outcome for that key (by ARN). */
export function explainKeyState(entries: JournalEntry[], key: { arn: string; state: string; deletionDate?: Date | undefined }): Explained {
  const last = lastOutcome(entries, (e) => e.target?.arn === key.arn || e.details?.arn === key.arn, new Set(Object.keys(KEY_STATE_AFTER)));
  if (!last) return undefined;
  const expected = KEY_STATE_AFTER[last.operation]!;
  if (expected !== key.state) {
    return { outside: `changed outside dropkeys since ${since(last)}: ${key.state}, but the journal's last operation (${last.operation}, ${request(last)}) left it ${expected}` };
  }
  if (key.state === "Disabled") {
    if (last.operation === "cancel-deletion") return { explained: `disabled: deletion cancelled by ${request(last)}, since ${since(last)}` };
    return { explained: `disabled: ${last.incident ? `incident ${last.incident}` : request(last)}, since ${since(last)}${last.incident ? ` (${request(last)})` : ""}` };
  }
  if (key.state === "PendingDeletion") {
    const deletes = key.deletionDate ?? (typeof last.details?.deletionDate === "string" ? new Date(last.details.deletionDate) : undefined);
    return { explained: `pending deletion: ${request(last)}${last.incident ? `, incident ${last.incident}` : ""}, deletes on ${deletes ? formatLocal(deletes) : "?"}` };
  }
  return undefined;
}

/** A secret's AWSCURRENT version against the last version the journal put there (generate, rotate-jwt). */
export function explainSecretVersion(entries: JournalEntry[], secret: { name: string; currentVersion: string | undefined; currentCreated: Date | undefined }): Explained {
  const last = lastOutcome(entries, (e) => e.target?.name === secret.name, new Set(["generate", "rotate-jwt"]));
  if (!last || !secret.currentVersion) return undefined;
  const journalled = last.operation === "generate" ? last.details?.versionId : last.details?.newVersion;
  if (typeof journalled !== "string" || journalled === secret.currentVersion) return undefined;
  const when = secret.currentCreated ? formatLocal(secret.currentCreated) : since(last);
  return { outside: `changed outside dropkeys since ${when}: AWSCURRENT is version ${secret.currentVersion}, the journal's last is ${journalled} (${last.operation}, ${request(last)})` };
}

/** How far a rotation KMS dates may lie from the rotate-key outcome that journalled it (clocks, KMS's own timing). */
const ROTATION_SLACK_MS = 5 * 60_000;

/** On-demand rotations of a key that no journalled rotate-key explains. */
export function explainOnDemandRotations(entries: JournalEntry[], arn: string, rotations: Date[]): Explained {
  const journalled = entries.filter((e) => e.type === "outcome" && e.outcome === "succeeded" && e.operation === "rotate-key" && (e.target?.arn === arn || e.details?.arn === arn)).map((e) => Date.parse(e.time));
  const unexplained = rotations.filter((r) => !journalled.some((t) => Math.abs(t - r.getTime()) <= ROTATION_SLACK_MS)).sort((a, b) => a.getTime() - b.getTime());
  if (unexplained.length === 0) return undefined;
  return { outside: `changed outside dropkeys since ${formatLocal(unexplained[0]!)}: rotated on demand ${unexplained.length} time${unexplained.length === 1 ? "" : "s"} with no rotate-key in the journal` };
}
