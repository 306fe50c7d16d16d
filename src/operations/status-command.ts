// Rendering and exit code of `dropkeys status`.
import type { GlobalOptions } from "../lib/cli-options.js";
import { createContext } from "../lib/context.js";
import { ExitCode } from "../lib/errors.js";
import { table } from "../lib/output.js";
import { collectStatus, type EntryStatus } from "./status.js";
import { certificateLines } from "../lib/certs/status.js";
import { formatLocal, parseFutureTimeArg } from "../lib/time.js";

export async function runStatus(options: GlobalOptions & { at?: string }): Promise<void> {
  const ctx = await createContext(options);
  const at = options.at ? parseFutureTimeArg(options.at, "--at") : new Date();
  const progress = ctx.out.progress("reading key state from AWS");
  const report = await collectStatus(ctx, at).finally(() => progress.done());
  const c = ctx.out.color;
  const health = (e: EntryStatus) =>
    e.health === "ok" ? c.green("ok") : e.health === "not-required" ? c.dim("phase 2") : e.health === "explained" ? c.yellow("explained") : c.red(e.health === "overdue" ? "OVERDUE" : e.health);
  const day = (iso: string | undefined) => (iso ? iso.slice(0, 10) : "-");
  ctx.out.result(report, () => {
    const rows = report.entries.map((e) => [
      e.name,
      e.kind,
      e.region,
      e.state === "Enabled" || e.state === "Active" ? e.state : e.state === "missing" ? c.red(e.state) : c.yellow(e.state),
      e.rotation.automatic === undefined ? e.rotation.policy : `${e.rotation.policy}, auto ${e.rotation.automatic ? `on${e.rotation.periodDays ? ` ${e.rotation.periodDays}d` : ""}` : "off"}`,
      day(e.lastRotated),
      day(e.nextDue),
      health(e),
    ]);
    const lines = [
      `Key status as of ${formatLocal(at)}${options.at ? c.dim(" (--at)") : ""}`,
      "",
      table(["NAME", "KIND", "REGION", "STATE", "ROTATION", "LAST ROTATED", "NEXT DUE", "STATUS"], rows),
    ];
    const detail = report.entries.filter((e) => e.problems.length || e.notes.length);
    if (detail.length) {
      lines.push("");
      for (const e of detail) {
        for (const p of e.problems) lines.push(`${c.red("!")} ${e.name}: ${p}`);
        for (const n of e.notes) lines.push(`${c.dim("-")} ${e.name}: ${n}`);
      }
    }
    for (const k of report.sourceKeysLeftEnabled) {
      lines.push(c.red(`! ${k.keyId} (${k.region}): a reencrypt --reenable-source enabled this compromised key at ${formatLocal(new Date(k.since))} and it is still Enabled; disable it: aws kms disable-key --key-id ${k.keyId} --region ${k.region}`));
    }
    lines.push(...certificateLines(report.certificates, at, c));
    if (report.external.length) lines.push("", c.dim(`Not held in AWS (not checked): ${report.external.join(", ")}`));
    lines.push("", report.findings ? c.red(`${report.findings} entr${report.findings === 1 ? "y needs" : "ies need"} attention.`) : c.green("Everything is in order."));
    return lines.join("\n");
  });
  // Findings are a result, not an error: the report says what; the exit code tells cron.
  if (report.findings > 0) process.exitCode = ExitCode.findings;
}
