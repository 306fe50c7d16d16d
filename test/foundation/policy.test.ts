import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { DropkeysError } from "../../src/lib/errors.js";
import { BUNDLED_POLICY, parsePolicy } from "../../src/lib/policy/load.js";

function problemsOf(text: string): string[] {
  try {
    parsePolicy(text, "test.yaml");
  } catch (error) {
    expect(error).toBeInstanceOf(DropkeysError);
    expect((error as DropkeysError).exitCode).toBe(2);
    return (error as DropkeysError).details!.problems as string[];
  }
  throw new Error("the policy was accepted");
}

describe("policy file", () => {
  it("accepts the bundled policy with the whole inventory of POLICY.md §1", () => {
    const policy = parsePolicy(readFileSync(BUNDLED_POLICY, "utf8"));
    const names = policy.inventory.map((e) => e.name);
    expect(names).toEqual(expect.arrayContaining(["drop-national-id-key", "drop-db-master-key", "drop-kyc-key", "drop-backup-key", "JWT_SECRET", "SUMSUB_SECRET_KEY", "BANKID_CLIENT_SECRET", "DATABASE_URL", "SENTRY_DSN", "JWT-02", "TLS-EXT"]));
    const backup = policy.inventory.find((e) => e.name === "drop-backup-key")!;
    expect(backup.region).toBe("eu-west-1");
    expect(policy.inventory.find((e) => e.name === "JWT_SECRET")!.rotation).toEqual({ label: "quarterly", days: 91 });
    expect(policy.approvals["schedule-deletion"]!.roles).toEqual(["drop-key-admin", "CISO"]);
    expect(policy.approvals.disable!.roles).toEqual([["security-lead", "CISO"]]);
    expect(policy.approvers).toEqual([]);
    expect(policy.jwt.tokenLifetime).toBe(86_400_000);
  });

  it("names the YAML path and what was expected, every problem at once", () => {
    const problems = problemsOf(`
version: 1
inventory:
  - { name: a, kind: kms-key, rotation: annual }
  - { name: b, kind: secret, rotation: annual }
  - { name: c, kind: kms-key, rotation: annual, region: moon-1 }
  - { name: d, kind: kms-key, rotation: weekly }
  - { name: e, kind: secret, rotation: quarterly, bytes: 16 }
  - { name: f, kind: hsm, rotation: annual }
`);
    expect(problems).toContain('inventory[3].rotation: expected "annual", "quarterly", "monthly", "on-compromise", "provider" or a number of days, got "weekly"');
    expect(problems).toContain("inventory[2].region: expected an AWS region such as eu-north-1");
    expect(problems).toContain("inventory[4].bytes: expected at least 32 bytes (256 bits)");
    expect(problems.some((p) => p.startsWith("inventory[5].kind:"))).toBe(true);
    expect(problems).toHaveLength(4);
  });

  it("refuses a missing version, an empty inventory and an approver with two signers", () => {
    const problems = problemsOf(`
inventory: []
approvers:
  - { name: x, email: x@drop.example, roles: [CISO], ssh: "ssh-ed25519 AAAA x", kms: "arn:aws:kms:eu-north-1:111122223333:key/abc" }
`);
    expect(problems.some((p) => p.startsWith("version:"))).toBe(true);
    expect(problems).toContain("inventory: expected at least one inventory entry");
    expect(problems).toContain('approvers[0]: expected exactly one of "ssh" or "kms"');
  });

  it("catches duplicate names and undefined roles", () => {
    const problems = problemsOf(`
version: 1
roles: { app: { principals: [] } }
inventory:
  - { name: k, kind: kms-key, rotation: annual, decryptRoles: [app, ghost] }
  - { name: k, kind: secret, rotation: annual }
`);
    expect(problems).toContain('inventory[0].decryptRoles[1]: role "ghost" is not defined under roles');
    expect(problems).toContain('inventory[1].name: "k" is also inventory[0]');
  });

  it("reports YAML syntax errors with line numbers", () => {
    const problems = problemsOf("version: 1\ninventory: [ {name: x kind: }\n");
    expect(problems[0]).toMatch(/^line \d+, column \d+/);
  });

  it("parses durations and per-region endpoints", () => {
    const policy = parsePolicy(`
version: 1
inventory: [ { name: a, kind: kms-key, rotation: 30 } ]
requestLifetime: 15m
endpoints:
  kms: { eu-north-1: "http://127.0.0.1:4599", eu-west-1: "http://127.0.0.1:4600" }
  secretsmanager: "http://127.0.0.1:5000"
`);
    expect(policy.requestLifetime).toBe(900_000);
    expect(policy.inventory[0]!.rotation).toEqual({ label: "30 days", days: 30 });
    expect(policy.endpoints.kms).toEqual({ "eu-north-1": "http://127.0.0.1:4599", "eu-west-1": "http://127.0.0.1:4600" });
    expect(problemsOf(`version: 1\ninventory: [ { name: a, kind: kms-key, rotation: 30 } ]\nrequestLifetime: soon\n`)).toEqual([
      'requestLifetime: expected a duration such as "5m", "24h" or "30d", got "soon"',
    ]);
  });
});
