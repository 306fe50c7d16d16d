// `dropkeys log verify` and `dropkeys log show`.
import type { GlobalOptions } from "../lib/cli-options.js";
import { createContext } from "../lib/context.js";
import { ExitCode } from "../lib/errors.js";
import { table } from "../lib/output.js";
import { formatLocal, parseTimeArg } from "../lib/time.js";
import { filterEntries } from "../lib/journal/filter.js";
import type { JournalEntry } from "../lib/journal/journal.js";

export interface LogShowOptions extends GlobalOptions {
  key?: string;
  incident?: string;
  since?: string;
  operation?: string;
}

export async function runLogVerify(options: GlobalOptions & { approvals: boolean; mirror?: boolean }): Promise<void> {
  const ctx = await createContext(options);
  const journal = ctx.journal();
  const report = journal.verify();
  let approvalProblems: string[] = [];
  if (options.approvals && report.ok) {
    const { reverifyJournalApprovals } = await import("../lib/approvals/journal-check.js");
    approvalProblems = await reverifyJournalApprovals(ctx, journal.entries());
    // A repair rewrote derived files (head, markdown) or cut a never-acknowledged entry: a crash
    // leaves that, and so does someone editing the directory; under --approvals a person looks at each.
    approvalProblems.push(...report.repairs.map((r) => `entry ${r}: a repair of the journal files: check what stopped that write`));
  }
  const { extraChecks, describeFindings } = await import("../lib/journal/verify-checks.js");
  const extra = await extraChecks(ctx, journal, options);
  const findings = describeFindings(extra);
  const ok = report.ok && approvalProblems.length === 0 && findings.length === 0;
  const c = ctx.out.color;
  ctx.out.result({ file: journal.file, ...report, openIntents: report.openIntents.map(brief), approvalProblems, mirror: extra.mirror, markdown: extra.markdown, ok }, () => {
    const lines: string[] = [];
    if (report.ok) lines.push(c.green(`The journal is intact: ${report.entries} entries, head ${report.head.slice(0, 16)}…`));
    for (const p of report.problems) lines.push(c.red(`line ${p.line}: ${p.kind}: ${p.message}`));
    if (report.interruptedAppend) lines.push(c.yellow(`warning: ${report.interruptedAppend}`));
    for (const r of report.repairs) lines.push(c.dim(`repaired: ${r}`));
    for (const e of report.openIntents) {
      lines.push(c.yellow(`warning: intent #${e.seq} (${e.operation} ${e.target?.name ?? ""}, ${e.time}) has no outcome: the process stopped before finishing; check the key's state`));
    }
    if (options.approvals) {
      if (approvalProblems.length === 0 && report.ok) lines.push(c.green("Every recorded approval verifies against the policy's keys."));
      for (const p of approvalProblems) lines.push(c.red(p));
    }
    for (const f of findings) lines.push(c.red(f));
    if (extra.mirror && extra.mirror.findings.length === 0) lines.push(c.green(`The mirror ${extra.mirror.url} holds exactly these entries, each written once.`));
    lines.push(c.dim(journal.file));
    return lines.join("\n");
  });
  if (!ok) process.exitCode = ExitCode.failed;
}

function brief(e: JournalEntry) {
  return { seq: e.seq, time: e.time, operation: e.operation, target: e.target, requestId: e.requestId };
}


export async function runLogShow(options: LogShowOptions): Promise<void> {
  const ctx = await createContext(options);
  const entries = filterEntries(ctx.journal().entries(), {
    ...(options.key ? { key: options.key } : {}),
    ...(options.incident ? { incident: options.incident } : {}),
    ...(options.operation ? { operation: options.operation } : {}),
    ...(options.since ? { since: parseTimeArg(options.since, "--since") } : {}),
  });
  const c = ctx.out.color;
  ctx.out.result({ entries }, () => {
    if (entries.length === 0) return "No journal entries match.";
    const rows = entries.map((e) => [
      `#${e.seq}`,
      formatLocal(new Date(e.time)),
      e.type === "outcome" ? (e.outcome === "succeeded" ? c.green(e.outcome) : c.red(e.outcome ?? "")) : e.type,
      e.operation,
      e.target?.name ?? e.target?.arn ?? "",
      e.incident ?? "",
      e.actor.aws.split("/").pop() ?? e.actor.aws,
      e.reason ?? e.verification?.detail ?? e.error?.message ?? "",
    ]);
    return table(["SEQ", "TIME", "TYPE", "OPERATION", "TARGET", "INCIDENT", "ACTOR", "REASON / RESULT"], rows);
  });
}
