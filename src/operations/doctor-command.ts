// `dropkeys doctor`: will this setup work? Every check is read-only (nothing is created, written
// or approved), each gives one line (ok / warning / problem) and the fix in one sentence.
// Exit 4 when any check found a problem, else 0.
import path from "node:path";
import type { GlobalOptions } from "../lib/cli-options.js";
import { Context } from "../lib/context.js";
import { ExitCode } from "../lib/errors.js";
import { Output } from "../lib/output.js";
import { approverKeys } from "../lib/doctor/approver-keys.js";
import { credentials, endpointsAndClock } from "../lib/doctor/aws.js";
import type { CheckResult } from "../lib/doctor/check.js";
import { cloudtrailCoverage } from "../lib/doctor/cloudtrail.js";
import { databaseReachable } from "../lib/doctor/database.js";
import { journalChecks } from "../lib/doctor/journal.js";
import { mirrorCheck } from "../lib/doctor/mirror.js";
import { policyInvalid, policyValid, sealState } from "../lib/doctor/policy.js";

export interface DoctorReport {
  checks: CheckResult[];
  problems: number;
  warnings: number;
}

export async function collectDoctor(options: GlobalOptions, out: Output): Promise<DoctorReport> {
  const journalDir = path.resolve(options.journal ?? "legal");
  let ctx: Context;
  try {
    ctx = new Context(options, out);
  } catch (error) {
    // Without a valid policy there are no endpoints, inventory or approvers to check.
    return summarise([policyInvalid(error), ...journalChecks(journalDir)]);
  }
  const local = [policyValid(ctx), ...journalChecks(ctx.journalDir), sealState(ctx), approverKeys(ctx)];
  const [creds, endpoints, coverage, database, mirror] = await Promise.all([credentials(ctx), endpointsAndClock(ctx), cloudtrailCoverage(ctx), databaseReachable(ctx), mirrorCheck(ctx)]);
  return summarise([...local, ...mirror, creds, ...endpoints, ...coverage, database]);
}

function summarise(checks: CheckResult[]): DoctorReport {
  return { checks, problems: checks.filter((c) => c.state === "problem").length, warnings: checks.filter((c) => c.state === "warning").length };
}

export async function runDoctor(options: GlobalOptions): Promise<void> {
  const out = new Output({ json: options.json, color: options.color, verbose: options.verbose });
  const progress = out.progress("checking the setup");
  const report = await collectDoctor(options, out).finally(() => progress.done());
  const c = out.color;
  const label = { ok: c.green("ok     "), warning: c.yellow("warning"), problem: c.red("problem") };
  out.result(report, () => {
    const width = Math.max(...report.checks.map((x) => x.id.length));
    const lines = report.checks.map((x) => `${label[x.state]}  ${x.id.padEnd(width)}  ${x.detail}${x.fix ? c.dim(`  fix: ${x.fix}`) : ""}`);
    const summary =
      report.problems > 0
        ? c.red(`${report.problems} problem(s), ${report.warnings} warning(s): fix the problems before the first operation.`)
        : report.warnings > 0
          ? c.yellow(`No problems, ${report.warnings} warning(s).`)
          : c.green("Everything checked is in order.");
    return [...lines, "", summary].join("\n");
  });
  if (report.problems > 0) process.exitCode = ExitCode.findings;
}
