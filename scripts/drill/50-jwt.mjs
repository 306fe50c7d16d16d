// Drill stage: the JWT signing secret. A scheduled rotation with its overlap, `--finish` before
// and after the overlap ends (the drill's policy gives JWTs a lifetime of seconds so it does),
// then an emergency rotation that revokes every session and reports the compromise window.
import { existsSync } from "node:fs";
import { spawnSync } from "node:child_process";
import path from "node:path";
import Database from "better-sqlite3";
import { approve } from "./approvers.mjs";

const SECRET = "JWT_SECRET";
const INCIDENT = "INC-DRILL-JWT";

/** The Drop sessions table, in the drill's SQLite database (stage 40's, or one of our own). */
function seedSessions(drill) {
  const url = drill.policy.database?.url ?? `sqlite:${path.join(drill.work, "drop-sessions.db")}`;
  if (!url.startsWith("sqlite:")) return url;
  // A relative path in the policy is relative to where dropkeys runs: the drill's directory.
  const db = new Database(path.resolve(drill.work, url.slice("sqlite:".length).replace(/^\/\//, "")));
  try {
    db.exec("CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, user_id TEXT NOT NULL, token_hash TEXT NOT NULL, created_at TEXT NOT NULL, last_seen_at TEXT, revoked INTEGER NOT NULL DEFAULT 0)");
    const insert = db.prepare("INSERT OR REPLACE INTO sessions (id, user_id, token_hash, created_at, last_seen_at, revoked) VALUES (?, ?, ?, ?, ?, 0)");
    const ago = (hours) => new Date(Date.now() - hours * 3_600_000).toISOString();
    for (let i = 1; i <= 12; i++) insert.run(`sess-${i}`, `user-${(i % 5) + 1}`, `sha256:${i.toString(16).padStart(8, "0")}`, ago(i * 6), ago(i * 2));
  } finally {
    db.close();
  }
  return url;
}

export default async function jwtStage(drill) {
  drill.note(drill.bold("JWT_SECRET: scheduled rotation, --finish from cron, emergency rotation"));
  const hasSecret = drill.step("Is there a JWT_SECRET to rotate? (a dry run)", ["rotate-jwt", "--dry-run"], { expect: [0, 2] });
  if (hasSecret.status === 2) {
    drill.note("JWT_SECRET does not exist yet in this drill: generate it first (one Security Lead or the CISO).");
    approve(drill, ["generate", SECRET, "--reason", "drill: the JWT signing secret"], ["alem"], { title: "Generate JWT_SECRET" });
  }

  const saved = { ...drill.policy.jwt };
  drill.policy.jwt = { ...saved, tokenLifetime: "6s", cacheTtl: "2s", deployCommand: "echo \"rolling deploy of drop-api: new $DROPKEYS_JWT_SECRET_NAME version $DROPKEYS_JWT_VERSION (simulated)\"" };
  drill.writePolicy();
  drill.note("For the drill the policy gives JWTs a lifetime of 6 s and the secrets cache 2 s (real: 24 h + 1 h), so the overlap ends while we watch; the deploy command is an echo.");
  approve(drill, ["policy", "seal", "--reason", "the drill's deploy command"], ["alem", "alice"], { title: "The deploy command runs with dropkeys' credentials: seal it" });

  drill.step("An overlap shorter than the JWT lifetime is refused", ["rotate-jwt", "--overlap", "3s", "--dry-run"], { expect: [2] });
  approve(drill, ["rotate-jwt", "--reason", "quarterly rotation (drill)"], ["alem"], { title: "Scheduled rotation, one Security Lead", runWith: "command" });
  drill.step("status shows the rotation in progress", ["status"], { expect: [0, 4] });
  drill.step("A second rotation inside the overlap is refused (Secrets Manager keeps one AWSPREVIOUS)", ["rotate-jwt", "--dry-run"], { expect: [1] });
  drill.step("Cron runs --finish during the overlap: prints the time left, exit 0", ["rotate-jwt", "--finish"]);
  await new Promise((resolve) => setTimeout(resolve, 8_500));
  drill.step("Cron runs --finish after the overlap: the old version loses AWSPREVIOUS", ["rotate-jwt", "--finish"]);
  drill.step("Cron again: nothing to do", ["rotate-jwt", "--finish", "--json"]);

  drill.note(drill.bold("The JWT secret leaked: emergency rotation"));
  const url = seedSessions(drill);
  drill.policy.database = { ...(drill.policy.database ?? {}), url };
  drill.writePolicy();
  drill.step("Without an incident id an emergency rotation is refused", ["rotate-jwt", "--emergency", "--dry-run"], { expect: [2] });
  const report = path.join(drill.work, "jwt-compromise-sessions.csv");
  const emergency = approve(
    drill,
    ["rotate-jwt", "--emergency", "--incident", INCIDENT, "--compromised-since", "24h", "--report", report, "--reason", "JWT secret found in a public CI log (drill)"],
    ["alem"],
    { title: "Emergency rotation, one Security Lead or the CISO alone", runWith: "command" },
  );
  if (!/Sessions revoked: [1-9]/.test(emergency.stdout)) drill.fail("the emergency rotation revoked no sessions");
  drill.note(`Sessions active during the compromise window, for the audit (${path.basename(report)}):`);
  if (existsSync(report)) console.log(spawnSync("head", ["-n", "5", report], { encoding: "utf8" }).stdout);
  else drill.fail("the session report was not written");
  drill.step("The incident: timeline, remaining steps, deadlines", ["incident", "show", INCIDENT], { expect: [0, 4] });

  // The lifetimes go back; the sealed deploy command stays (changing it again would need a seal).
  drill.policy.jwt = { ...saved, deployCommand: drill.policy.jwt.deployCommand };
  drill.writePolicy();
}
