// How a rotation is reported, by `dropkeys rotate-jwt` and (through rotate-jwt.ts) by
// `dropkeys apply`: what changed, the incident steps still open, and last the overlap end and
// the command that finishes the rotation.
import type { Context } from "../lib/context.js";
import { incidentReport } from "../lib/incident/incident.js";
import type { OperationResult } from "./pipeline.js";
import type { RotateJwtParams, RotateJwtResult } from "../lib/jwt/results.js";
import { renderOperation } from "./render.js";
import { formatLocal } from "../lib/time.js";

export const FINISH_COMMAND = "dropkeys rotate-jwt --finish";

/** The incident's remaining checklist steps and open deadlines, from the journal (POLICY.md §5). */
function incidentSummary(ctx: Context, id: string): { remaining: string[]; deadlines: { name: string; due: string }[] } {
  const report = incidentReport(ctx.journal().entries(), id);
  if (!report) return { remaining: [], deadlines: [] };
  return {
    remaining: report.checklist.filter((s) => !s.done).map((s) => `${s.step}: ${s.title}`),
    deadlines: report.deadlines.filter((d) => !d.done).map((d) => ({ name: d.name, due: d.due })),
  };
}

export function renderRotateJwt(
  ctx: Context,
  outcome: OperationResult<RotateJwtResult>,
  input: { name: string; params: Pick<RotateJwtParams, "emergency">; incident: string | undefined },
): void {
  const { name: secret, params, incident } = input;
  const c = ctx.out.color;
  renderOperation<RotateJwtResult>(ctx, outcome, {
    command: "dropkeys rotate-jwt",
    done: (r) => [
      c.green(`${params.emergency ? "EMERGENCY rotation of" : "Rotated"} ${secret}: version ${r.newVersion} is AWSCURRENT${r.reused ? " (this request's own version, reused)" : ""}`),
      `  Tested: ${r.test.detail}`,
      ...r.recovered.map((line) => c.yellow(`  Recovered: ${line}`)),
      r.previousRetired
        ? `  Old version ${r.oldVersion} no longer verifies (AWSPREVIOUS removed)`
        : r.overlapEnds && r.overlapEnds.getTime() <= Date.now()
          ? `  Old version ${r.oldVersion} still verifies (AWSPREVIOUS), but its overlap ended ${formatLocal(r.overlapEnds)}: retire it now with ${FINISH_COMMAND}`
          : `  Old version ${r.oldVersion} keeps verifying (AWSPREVIOUS) until ${r.overlapEnds ? formatLocal(r.overlapEnds) : "-"}`,
      ...(r.sessions ? [`  Sessions revoked: ${r.sessions.revoked} (${r.sessions.database}, one transaction)`] : []),
      ...(r.sessions?.report ? [`  Sessions active during the compromise window: ${r.sessions.reported}, written to ${r.sessions.report}`] : []),
      ...(r.deploy ? [`  Deploy command: exit ${r.deploy.exitCode}`] : []),
    ],
    json: (r) => ({
      secret,
      oldVersion: r.oldVersion,
      newVersion: r.newVersion,
      reused: r.reused,
      recovered: r.recovered,
      overlapEnds: r.overlapEnds?.toISOString() ?? null,
      previousRetired: r.previousRetired,
      ...(r.sessions ? { sessions: r.sessions } : {}),
      ...(r.deploy ? { deploy: { command: r.deploy.command, exitCode: r.deploy.exitCode } } : {}),
      ...(params.emergency && incident ? { incident: incidentSummary(ctx, incident) } : {}),
    }),
    next: (r) => {
      const next: string[] = [];
      if (!r.deploy) next.push("deploy the application so every instance reads the new value (no jwt.deployCommand in the policy)");
      if (params.emergency && incident) {
        const summary = incidentSummary(ctx, incident);
        for (const step of summary.remaining) next.push(`incident ${incident}, step ${step}`);
        for (const d of summary.deadlines) next.push(`${d.name}: due ${formatLocal(new Date(d.due))}`);
      }
      // The output ends with when the overlap ends and the command that finishes the rotation.
      if (r.overlapEnds && r.overlapEnds.getTime() <= Date.now()) next.push(`the overlap ended ${formatLocal(r.overlapEnds)}: run ${FINISH_COMMAND} now`);
      else if (r.overlapEnds) next.push(`the overlap ends ${formatLocal(r.overlapEnds)}; then run: ${FINISH_COMMAND} (safe from cron: until then it prints the time left)`);
      return next;
    },
  });
}
