// Is the Drop database reachable (when one is configured)? The URL is shown without its password.
import type { Context } from "../context.js";
import { databaseUrl, openDatabase, redactUrl } from "../db/index.js";
import { awsTimeoutMs } from "./aws.js";
import { ok, problem, reason, withTimeout, type CheckResult } from "./check.js";

export async function databaseReachable(ctx: Context): Promise<CheckResult> {
  if (!ctx.policy.database?.url && !process.env.DATABASE_URL) {
    return ok("database", "no database configured (only shred-user, reencrypt and rotate-jwt --emergency need one)", { configured: false });
  }
  const url = databaseUrl(ctx.policy);
  const shown = redactUrl(url);
  try {
    const db = await withTimeout(openDatabase(url), awsTimeoutMs(ctx), `connecting to ${shown}`);
    try {
      await withTimeout(db.query("SELECT 1 AS one"), awsTimeoutMs(ctx), `querying ${shown}`);
    } finally {
      await db.close();
    }
    return ok("database", `${shown} answers (${url.startsWith("sqlite:") ? "SQLite" : "PostgreSQL"})`, { configured: true, url: shown });
  } catch (error) {
    return problem("database", `${shown} cannot be reached: ${withoutPassword(reason(error), url)}`, "Check database.url in the policy (or DATABASE_URL), the server, and the user's password and rights.", {
      configured: true,
      url: shown,
    });
  }
}

/** A driver's message could echo the connection string: never let the password through. */
function withoutPassword(message: string, url: string): string {
  let out = message;
  try {
    const raw = new URL(url).password;
    for (const form of [raw, decodeURIComponent(raw)]) if (form) out = out.split(form).join("***");
  } catch {
    /* not a URL with a password (sqlite:) */
  }
  return out;
}
