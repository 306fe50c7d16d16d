// internkontroll.md: the journal rendered for people, appended entry by entry. Destruction
// entries carry what POLICY.md §6 asks: key id, date, reason, verification method, actor.
import { formatLocal } from "../time.js";
import type { JournalEntry } from "./entry.js";

const DESTRUCTIVE = new Set(["schedule-deletion", "delete-secret", "shred-user", "destroy"]);

export function renderMarkdown(entry: JournalEntry, options: { header: boolean }): string {
  const lines: string[] = [];
  if (options.header) {
    lines.push(
      "# Internkontroll: key management log",
      "",
      "Written by dropkeys. The authoritative, hash-chained record is `internkontroll.jsonl`;",
      "`dropkeys log verify` checks it. This file is its readable rendering.",
      "",
    );
  }
  const when = new Date(entry.time);
  const what = [entry.operation, entry.target?.name ?? entry.target?.arn].filter(Boolean).join(" ");
  const status = entry.type === "outcome" ? entry.outcome ?? "done" : entry.type;
  lines.push(`## #${entry.seq} ${formatLocal(when)}: ${what} (${status})`, "");
  const item = (label: string, value: unknown) => {
    if (value !== undefined && value !== null && value !== "") lines.push(`- ${label}: ${String(value)}`);
  };
  if (DESTRUCTIVE.has(entry.operation)) item("Destruction record", "POLICY.md §6");
  item("Key id", entry.target?.arn ?? entry.target?.name);
  item("Region", entry.target?.region);
  item("Date", entry.time);
  item("Deletion date", entry.params?.deletionDate ?? entry.details?.deletionDate);
  item("Reason", entry.reason);
  item("Incident", entry.incident);
  item("Actor", `${entry.actor.aws} (${entry.actor.osUser}@${entry.actor.host})`);
  if (entry.approvals?.length) {
    item("Approvals", entry.approvals.map((a) => `${a.approver} as ${a.role} (${a.signer} ${a.fingerprint})`).join("; "));
  }
  item("Single-custodian exception", entry.exception);
  if (entry.intentSeq !== undefined) item("Outcome of", `#${entry.intentSeq}`);
  if (entry.type === "outcome") item("Outcome", entry.outcome);
  if (entry.verification) {
    item("Verification method", entry.verification.method);
    item("Verification result", entry.verification.detail ? `${entry.verification.result}: ${entry.verification.detail}` : entry.verification.result);
  }
  if (entry.error) item("Error", `${entry.error.code}: ${entry.error.message}`);
  item("State", entry.state);
  if (entry.next?.length) item("Next", entry.next.join("; "));
  item("Request", entry.requestId);
  item("Entry hash", entry.hash);
  lines.push("", "");
  return lines.join("\n");
}
