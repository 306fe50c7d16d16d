import type { Command } from "commander";
import { addOperationOptions, examples } from "../lib/cli-options.js";
import type { RotateJwtOptions } from "../operations/rotate-jwt-command.js";

export function register(command: Command): void {
  command
    .description(
      "Rotate the JWT signing secret: new value, the old one verifies during an overlap (JWT lifetime + cache TTL), then --finish retires it. --emergency: at once, every session revoked.",
    )
    .argument("[name]", "the secret (default: the policy's jwt.secret, JWT_SECRET)")
    .option("--finish", "cron: retire the old version once the overlap has ended (exit 0 when nothing is due)", false)
    .option("--emergency", "compromise: the old value stops verifying at once and every session is revoked (needs --incident)", false)
    .option("--overlap <duration>", "how long the old value keeps verifying (default lifetime + cache TTL; not below the lifetime; emergency: 0 or up to 5m)")
    .option("--compromised-since <time>", "emergency: start of the compromise window (default: when the current value was created)")
    .option("--detected-at <time>", "emergency: when the compromise was detected (deadlines count from it; default now)")
    .option("--report <file>", "emergency: write the sessions active during the compromise window to FILE (.csv or .json)");
  addOperationOptions(command, { reasonRequired: false });
  command.action(async (name: string | undefined, options: RotateJwtOptions) => {
    const { runRotateJwt } = await import("../operations/rotate-jwt-command.js");
    await runRotateJwt(name, options);
  });
  examples(
    command,
    "dropkeys rotate-jwt --reason 'quarterly rotation'",
    "dropkeys rotate-jwt --finish --json --no-input      # from cron, hourly",
    "dropkeys rotate-jwt --emergency --incident INC-20261123-1405 --compromised-since 2026-11-20 --report sessions.csv --reason 'JWT secret leaked'",
  );
}
