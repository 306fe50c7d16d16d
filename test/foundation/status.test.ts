// `dropkeys status` against the emulators: keys made in local-kms (which keeps real key states),
// a secret in moto's Secrets Manager, each read back through the CLI as a user would.
import { CreateAliasCommand, CreateKeyCommand, DisableKeyCommand, EnableKeyRotationCommand } from "@aws-sdk/client-kms";
import { CreateSecretCommand } from "@aws-sdk/client-secrets-manager";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Journal } from "../../src/lib/journal/journal.js";
import { ENABLE_SOURCE } from "../../src/lib/reencrypt/source-key.js";
import { runCli } from "../support/cli.js";
import { kmsClient, secretsClient } from "../support/aws.js";
import { suffix, writePolicy } from "../support/policy.js";

const s = suffix();
const names = {
  rotating: `st-rotating-${s}`,
  norotation: `st-norotation-${s}`,
  disabled: `st-disabled-${s}`,
  missing: `st-missing-${s}`,
  west: `st-west-${s}`,
  secret: `ST_SECRET_${s}`,
};
let dir: string;
let policy: string;

async function createKey(name: string, region: string, rotate: boolean): Promise<string> {
  const kms = kmsClient(region);
  const key = await kms.send(new CreateKeyCommand({ Description: name }));
  const keyId = key.KeyMetadata!.KeyId!;
  await kms.send(new CreateAliasCommand({ AliasName: `alias/${name}`, TargetKeyId: keyId }));
  if (rotate) await kms.send(new EnableKeyRotationCommand({ KeyId: keyId }));
  return keyId;
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "dropkeys-status-"));
  await createKey(names.rotating, "eu-north-1", true);
  await createKey(names.norotation, "eu-north-1", false);
  const disabled = await createKey(names.disabled, "eu-north-1", true);
  await kmsClient("eu-north-1").send(new DisableKeyCommand({ KeyId: disabled }));
  await createKey(names.west, "eu-west-1", true);
  await secretsClient().send(new CreateSecretCommand({ Name: names.secret, SecretString: "not-a-real-secret-value" }));
  const kmsEntry = (name: string, extra: Record<string, unknown> = {}) => ({ name, kind: "kms-key", rotation: "annual", rotationMode: "automatic", ...extra });
  policy = writePolicy(dir, {
    inventory: [
      kmsEntry(names.rotating),
      kmsEntry(names.norotation),
      kmsEntry(names.disabled),
      kmsEntry(names.missing),
      kmsEntry(names.west, { region: "eu-west-1", rotationMode: "manual" }),
      { name: names.secret, kind: "secret", rotation: "quarterly", overdueAfterDays: 3, source: "provider" },
      { name: "TLS-EXT", kind: "certificate", rotation: 90 },
    ],
  });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Entry = { name: string; state: string; health: string; region: string; rotation: { automatic?: boolean }; problems: string[]; nextDue?: string; lastRotated?: string };
async function status(args: string[] = []) {
  const r = await runCli(["status", "--policy", policy, "--json", ...args], { env: { AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test" } });
  const doc = JSON.parse(r.stdout) as { entries: Entry[]; external: string[]; findings: number };
  const byName = Object.fromEntries(doc.entries.map((e) => [e.name, e]));
  return { r, doc, byName };
}

describe("dropkeys status", () => {
  it("reports state, rotation and problems of every entry, and exits 4 when something needs attention", async () => {
    const { r, doc, byName } = await status();
    expect(r.code).toBe(4);
    expect(byName[names.rotating]).toMatchObject({ state: "Enabled", health: "ok", rotation: { automatic: true } });
    expect(byName[names.norotation]).toMatchObject({ state: "Enabled", health: "unexpected-state", rotation: { automatic: false } });
    expect(byName[names.norotation]!.problems).toContain("automatic rotation is off, the policy requires it");
    expect(byName[names.disabled]).toMatchObject({ state: "Disabled", health: "unexpected-state" });
    expect(byName[names.missing]).toMatchObject({ state: "missing", health: "missing" });
    // drop-backup-key style: a key in its own region is found there, not in the default one.
    expect(byName[names.west]).toMatchObject({ state: "Enabled", region: "eu-west-1", health: "ok" });
    expect(byName[names.secret]).toMatchObject({ state: "Active", health: "ok" });
    expect(doc.external).toEqual(["TLS-EXT"]);
    expect(doc.findings).toBe(3);
  });

  it("evaluates --at a later date: the quarterly secret is overdue after 91 + 3 days, not before", async () => {
    const early = await status(["--at", "93d"]);
    expect(early.byName[names.secret]!.health).toBe("ok");
    const late = await status(["--at", "95d"]);
    expect(late.byName[names.secret]!.health).toBe("overdue");
    expect(late.byName[names.secret]!.problems[0]).toMatch(/^rotation overdue by \d+ days/);
    expect(late.byName[names.west]!.health).toBe("ok");
    const year = await status(["--at", "373d"]);
    expect(year.byName[names.west]!.health).toBe("overdue");
  });

  it("renders a table for people and exits 0 when everything is in order", async () => {
    const clean = writePolicy(dir, { inventory: [{ name: names.rotating, kind: "kms-key", rotation: "annual" }] }, "clean.yaml");
    const r = await runCli(["status", "--policy", clean], { env: { AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test" } });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/NAME\s+KIND\s+REGION\s+STATE/);
    expect(r.stdout).toContain(names.rotating);
    expect(r.stdout).toContain("Everything is in order.");
  });

  it("flags a compromised source key that a killed reencrypt --reenable-source left enabled, until it is disabled", async () => {
    const kms = kmsClient("eu-north-1");
    const old = (await kms.send(new CreateKeyCommand({ Description: `st-old-${s}` }))).KeyMetadata!;
    const journalDir = path.join(dir, "legal-reenable");
    // What a reencrypt killed after EnableKey leaves in the journal: the enable step, nothing after it.
    new Journal(journalDir).append({
      type: "intent",
      operation: ENABLE_SOURCE,
      requestId: `req-${s}`,
      target: { name: names.rotating, arn: old.Arn, keyId: old.KeyId, region: "eu-north-1", kind: "kms-key" },
      actor: { aws: "arn:aws:sts::123456789012:user/moto", osUser: "t", host: "h" },
      params: { keyId: old.KeyId, for: "reencrypt --reenable-source" },
    });
    const clean = writePolicy(dir, { inventory: [{ name: names.rotating, kind: "kms-key", rotation: "annual" }] }, "reenable.yaml");
    const env = { AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test" };
    const flagged = await runCli(["status", "--policy", clean, "--journal", journalDir, "--json"], { env });
    expect(flagged.code).toBe(4);
    expect(JSON.parse(flagged.stdout).sourceKeysLeftEnabled).toMatchObject([{ keyId: old.KeyId, region: "eu-north-1" }]);
    const human = await runCli(["status", "--policy", clean, "--journal", journalDir], { env });
    expect(human.stdout).toContain(`${old.KeyId} (eu-north-1): a reencrypt --reenable-source enabled this compromised key`);
    await kms.send(new DisableKeyCommand({ KeyId: old.KeyId }));
    const after = await runCli(["status", "--policy", clean, "--journal", journalDir, "--json"], { env });
    expect(after.code).toBe(0);
    expect(JSON.parse(after.stdout).sourceKeysLeftEnabled).toEqual([]);
  });
});
