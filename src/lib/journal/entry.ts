// The shape of a journal entry and of a verification report (journal.ts writes and reads them,
// markdown.ts renders them).
import type { ProcessIdentity } from "./process-identity.js";

export interface Actor {
  /** AWS caller identity ARN (STS), or "unknown" when STS could not be reached. */
  aws: string;
  account?: string | undefined;
  osUser: string;
  host: string;
}

export interface JournalApproval {
  approver: string;
  role: string;
  signer: "ssh" | "kms";
  fingerprint: string;
  signature: string;
}

export interface JournalVerification {
  method: string;
  result: "passed" | "failed" | "partial" | "skipped";
  detail?: string | undefined;
  checkedAt?: string | undefined;
  [key: string]: unknown;
}

/** What a caller writes; the journal adds seq, time, prev and hash. */
export interface JournalRecord {
  type: "intent" | "outcome" | "event";
  operation: string;
  requestId?: string | undefined;
  /** The intent this outcome belongs to. */
  intentSeq?: number | undefined;
  target?: { name?: string; arn?: string; region?: string; kind?: string; [key: string]: unknown } | undefined;
  actor: Actor;
  reason?: string | undefined;
  incident?: string | undefined;
  approvals?: JournalApproval[] | undefined;
  /** The documented exception that let a single custodian approve alone. */
  exception?: string | undefined;
  params?: Record<string, unknown> | undefined;
  /** "unknown": the AWS call did not return (timeout); `state` says what was read back. */
  outcome?: "succeeded" | "failed" | "noop" | "interrupted" | "unknown" | undefined;
  verification?: JournalVerification | undefined;
  error?: { code: string; message: string } | undefined;
  /** What state AWS was left in, and what to run next (failures). */
  state?: string | undefined;
  next?: string[] | undefined;
  details?: Record<string, unknown> | undefined;
  /** Intents: the process carrying it out (host, pid, start time), so a later run can tell it died. */
  process?: ProcessIdentity | undefined;
}

export interface JournalEntry extends JournalRecord {
  seq: number;
  time: string;
  prev: string;
  hash: string;
}

export interface JournalProblem {
  line: number;
  kind: "edited" | "deleted" | "reordered" | "inserted" | "truncated" | "unparseable" | "orphan-outcome";
  message: string;
}

export interface JournalVerifyReport {
  ok: boolean;
  entries: number;
  head: string;
  problems: JournalProblem[];
  /** Intents with no outcome: the process died between announcing and finishing. */
  openIntents: JournalEntry[];
  /** An append killed midway (not tampering): the next append finishes or undoes it ("repairable"). */
  interruptedAppend?: string | undefined;
  /** Interrupted writes already repaired, each journalled as a `journal-repair` event ("repaired"). */
  repairs: string[];
}

/** The operation name of the event entry that records a repair of an interrupted write. */
