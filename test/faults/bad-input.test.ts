// Bad input is exit 2 with the problem named, never a stack trace: a YAML alias bomb, a time zone
// that does not exist, a database URL dropkeys cannot open, an envelope key missing from the
// inventory; --from-file ids normalised by the id column's type, deduplicated, length-limited.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { openDatabase } from "../../src/lib/db/index.js";
import { DROP_SCHEMA, dropDatabaseSection } from "../../src/lib/envelope/seed.js";
import { bundledApprovals } from "../keys/setup.js";
import { runCli, type CliResult } from "../support/cli.js";
import { writePolicy } from "../support/policy.js";
import { faultTally } from "./tally.js";

const tally = faultTally("bad-input");
const dir = mkdtempSync(path.join(tmpdir(), "dropkeys-bad-input-"));
const inventory = [
  { name: "drop-kyc-key", kind: "kms-key", rotation: "annual", classification: "L4", owner: "security", purpose: "test" },
  { name: "drop-national-id-key", kind: "kms-key", rotation: "annual", classification: "L4", owner: "security", purpose: "test" },
];

function expectUsageError(r: CliResult, pattern: RegExp): void {
  expect(r.code, r.stdout + r.stderr).toBe(2);
  expect(r.stderr).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
}

const cli = (policy: string, args: string[]) => runCli([...args, "--policy", policy, "--journal", path.join(dir, "legal")], { cwd: dir, env: { AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test" } });

describe("bad policy files", () => {
  it("a YAML alias bomb is refused before it expands", async () => {
    const file = path.join(dir, "bomb.yaml");
    const levels = ["a: &a [x, x, x, x, x, x, x, x, x]"];
    for (let i = 1; i < 9; i++) levels.push(`${"abcdefghij"[i]}: &${"abcdefghij"[i]} [${Array(9).fill(`*${"abcdefghij"[i - 1]}`).join(", ")}]`);
    writeFileSync(file, `version: 1\n${levels.join("\n")}\ninventory: []\n`);
    tally.inject();
    const started = Date.now();
    expectUsageError(await cli(file, ["policy", "check"]), /alias/i);
    expect(Date.now() - started).toBeLessThan(20_000);
    tally.recovered();
  });

  const cases: [string, Record<string, unknown>, RegExp][] = [
    ["an unknown time zone", { timezone: "Mars/Olympus" }, /timezone: "Mars\/Olympus" is not a time zone/],
    ["an unknown business-hours time zone", { businessHours: { timezone: "Oslo" } }, /businessHours.timezone: "Oslo" is not a time zone/],
    ["a database URL of another engine", { database: { url: "mysql://u:secret@db/drop" } }, /database.url: "mysql:\/\/\*\*\*@db\/drop" is neither sqlite:PATH nor postgres/],
    ["an envelope key not in the inventory", { database: { url: "sqlite:drop.db" }, envelope: { key: "no-such-key" } }, /envelope.key: "no-such-key" is not an inventory entry/],
  ];
  for (const [what, extra, pattern] of cases) {
    it(`${what}: exit 2 from policy check and from the commands that would have crashed`, async () => {
      const policy = writePolicy(dir, { inventory, ...extra }, `${what.replaceAll(" ", "-")}.yaml`);
      tally.inject();
      const results = [await cli(policy, ["policy", "check"]), await cli(policy, ["disable", "drop-kyc-key", "--reason", "x"]), await cli(policy, ["incident", "list"])];
      for (const r of results) expectUsageError(r, pattern);
      // A database password in the policy never reaches the output.
      expect(results.map((r) => r.stdout + r.stderr).join("")).not.toContain("secret");
      tally.recovered();
    });
  }
});

describe("--from-file ids", () => {
  it('"81" and "00081" are one user of an integer id column: one id in the request', async () => {
    const db = await openDatabase(`sqlite:${path.join(dir, "drop.db")}`, { create: true });
    for (const statement of DROP_SCHEMA) await db.execute(statement);
    await db.execute("INSERT INTO users (id, email, national_id) VALUES (81, 'a@example.com', 'AAAA')");
    await db.close();
    const policy = writePolicy(dir, { inventory, approvals: bundledApprovals, database: dropDatabaseSection("combined", "sqlite:drop.db") }, "ids.yaml");
    const file = path.join(dir, "ids.txt");
    writeFileSync(file, "81\n00081\n+81\n# comment\n\n");
    const requestFile = path.join(dir, "ids.request.json");
    const r = await cli(policy, ["shred-user", "--from-file", file, "--reason", "DSR-1", "--request-out", requestFile]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(readFileSync(requestFile, "utf8")).params.userIds).toEqual(["81"]);
  });

  it("a 10 MB line is not an id: exit 2 at once", async () => {
    const policy = writePolicy(dir, { inventory, database: dropDatabaseSection("combined", "sqlite:drop.db") }, "ids-long.yaml");
    const file = path.join(dir, "long.txt");
    writeFileSync(file, "81\n" + "9".repeat(10 * 1024 * 1024) + "\n");
    tally.inject();
    const r = await cli(policy, ["shred-user", "--from-file", file, "--reason", "DSR-1"]);
    expectUsageError(r, /user id 2 is 10485760 characters long; ids are at most 128/);
    tally.recovered();
  });
});
