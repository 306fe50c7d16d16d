// Matching what AWS recorded against what the journal approved. Each approved operation (an
// intent, closed by its outcome) claims the calls it makes on its target between the intent and
// the outcome, give or take the clock skew; a change no claim explains was made outside dropkeys.
import type { JournalEntry } from "../journal/journal.js";
import { versionTokenFor } from "../jwt/rotation.js";
import type { ChangeEvent } from "./changes.js";

/** The calls each journalled operation makes, by target kind; `required` must appear for a success. */
const OPERATION_CALLS: Record<string, { kms?: string[]; secret?: string[]; required: string[] }> = {
  generate: { kms: ["CreateKey", "CreateAlias", "UpdateAlias", "EnableKeyRotation"], secret: ["CreateSecret"], required: ["CreateKey", "CreateSecret"] },
  disable: { kms: ["DisableKey"], required: ["DisableKey"] },
  "reencrypt-disable-source": { kms: ["DisableKey"], required: ["DisableKey"] },
  enable: { kms: ["EnableKey"], required: ["EnableKey"] },
  "reencrypt-enable-source": { kms: ["EnableKey"], required: ["EnableKey"] },
  "rotate-key": { kms: ["RotateKeyOnDemand"], required: ["RotateKeyOnDemand"] },
  "schedule-deletion": { kms: ["ScheduleKeyDeletion"], secret: ["DeleteSecret"], required: ["ScheduleKeyDeletion", "DeleteSecret"] },
  "cancel-deletion": { kms: ["CancelKeyDeletion"], secret: ["RestoreSecret"], required: ["CancelKeyDeletion", "RestoreSecret"] },
  // PutSecretValue is absent when a rerun reuses its own pending version; the label move never is.
  "rotate-jwt": { secret: ["PutSecretValue", "UpdateSecretVersionStage", "TagResource", "UntagResource"], required: ["UpdateSecretVersionStage"] },
  "rotate-jwt-finish": { secret: ["UpdateSecretVersionStage", "TagResource", "UntagResource"], required: ["UpdateSecretVersionStage"] },
};

/** An operation whose intent has no outcome (the process died) may have made its calls this long after the intent. */
const OPEN_INTENT_MS = 15 * 60_000;

export interface Claim {
  intent: JournalEntry;
  outcome?: JournalEntry | undefined;
  operation: string;
  requestId: string;
  /** Inventory name (or what the journal calls the target). */
  name: string;
  kind: "kms-key" | "secret";
  arns: Set<string>;
  calls: Set<string>;
  required: string[];
  /** Idempotency tokens AWS records, by event name. */
  tokens: Map<string, string>;
  start: number;
  end: number;
  approvers: string[];
  incident?: string | undefined;
  matched: number;
}

/** The journal's approved AWS operations on keys and secrets, in journal order. */
export function claimsOf(entries: JournalEntry[]): Claim[] {
  const outcomes = new Map<number, JournalEntry>();
  for (const e of entries) if (e.type === "outcome" && e.intentSeq !== undefined) outcomes.set(e.intentSeq, e);
  // A step of a larger operation (reencrypt-enable-source) carries no approvals of its own: the request's.
  const approversOf = new Map<string, string[]>();
  for (const e of entries) if (e.type === "intent" && e.requestId && e.approvals?.length && !approversOf.has(e.requestId)) approversOf.set(e.requestId, e.approvals.map((a) => a.approver));
  const claims: Claim[] = [];
  for (const intent of entries) {
    if (intent.type !== "intent") continue;
    const calls = OPERATION_CALLS[intent.operation];
    // A signing key's private half is a Secrets Manager secret.
    const kind = intent.target?.kind === "signing-key" ? "secret" : intent.target?.kind;
    if (!calls || (kind !== "kms-key" && kind !== "secret")) continue;
    const names = (kind === "kms-key" ? calls.kms : calls.secret) ?? [];
    if (names.length === 0) continue;
    const outcome = outcomes.get(intent.seq);
    const arns = new Set<string>();
    for (const t of [intent.target, outcome?.target]) if (typeof t?.arn === "string") arns.add(t.arn);
    if (typeof outcome?.details?.arn === "string") arns.add(outcome.details.arn);
    const requestId = intent.requestId ?? `seq-${intent.seq}`;
    const tokens = new Map<string, string>();
    if (intent.requestId && intent.operation === "generate") tokens.set("CreateSecret", intent.requestId);
    if (intent.requestId && intent.operation === "rotate-jwt") tokens.set("PutSecretValue", versionTokenFor(intent.requestId));
    const start = Date.parse(intent.time);
    claims.push({
      intent,
      outcome,
      operation: intent.operation,
      requestId,
      name: String(intent.target?.name ?? ""),
      kind,
      arns,
      calls: new Set(names),
      required: calls.required.filter((n) => names.includes(n)),
      tokens,
      start,
      end: outcome ? Date.parse(outcome.time) : start + OPEN_INTENT_MS,
      approvers: intent.approvals?.length ? intent.approvals.map((a) => a.approver) : (approversOf.get(requestId) ?? []),
      incident: intent.incident,
      matched: 0,
    });
  }
  return claims;
}

/** What a change is about, resolved against the inventory. */
export interface ChangeSubject {
  name: string;
  kind: "kms-key" | "secret";
  arn?: string | undefined;
}

export type ChangeStatus = "matched" | "unmatched" | "aws-service";

export interface MatchedChange {
  change: ChangeEvent;
  subject: ChangeSubject;
  status: ChangeStatus;
  claim?: Claim | undefined;
}

/** Whether `claim` explains `change` on `subject`, within `skewMs`. */
export function explains(claim: Claim, change: ChangeEvent, subject: ChangeSubject, skewMs: number): boolean {
  if (claim.kind !== subject.kind || !claim.calls.has(change.name)) return false;
  if (change.time < claim.start - skewMs || change.time > claim.end + skewMs) return false;
  const token = claim.tokens.get(change.name);
  if (token && change.token && change.token !== token) return false;
  // Same key: by ARN where both sides know it (an old and a new key share a name), else by name.
  if (subject.kind === "kms-key" && claim.arns.size > 0 && subject.arn) return claim.arns.has(subject.arn);
  return claim.name === subject.name;
}

/** Classify every change; changes that no claim explains are `unmatched`. Refused calls are not passed here. */
export function matchChanges(changes: { change: ChangeEvent; subject: ChangeSubject }[], claims: Claim[], skewMs: number): MatchedChange[] {
  return changes.map(({ change, subject }) => {
    if (change.invokedBy) return { change, subject, status: "aws-service" };
    // The nearest claim in time wins when two could explain the call.
    let best: Claim | undefined;
    let distance = Infinity;
    for (const claim of claims) {
      if (!explains(claim, change, subject, skewMs)) continue;
      const d = change.time < claim.start ? claim.start - change.time : change.time > claim.end ? change.time - claim.end : 0;
      if (d < distance) {
        best = claim;
        distance = d;
      }
    }
    if (!best) return { change, subject, status: "unmatched" };
    best.matched++;
    return { change, subject, status: "matched", claim: best };
  });
}

/** Succeeded operations inside the window of which CloudTrail shows none of the calls they must have made. */
export function claimsWithoutEvents(claims: Claim[], window: { since: number; until: number }, covered: (region: string) => boolean): Claim[] {
  return claims.filter(
    (c) =>
      c.outcome?.outcome === "succeeded" &&
      c.matched === 0 &&
      c.required.length > 0 &&
      c.start >= window.since &&
      c.end <= window.until &&
      covered(String(c.intent.target?.region ?? "")),
  );
}
