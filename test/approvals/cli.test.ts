// The approval commands end to end, as people use them: `--request-out`, `dropkeys approve`,
// plain `ssh-keygen -Y sign`, `dropkeys apply`, the registry seal and its rotation, and
// interop with `ssh-keygen -Y verify`.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { approverEntries, makeSshApprover, sealRegistry, signRequest, type TestApprover } from "../support/approvers.js";
import { CreateAliasCommand, CreateKeyCommand } from "@aws-sdk/client-kms";
import { cliAwsEnv, kmsClient } from "../support/aws.js";
import { runCli } from "../support/cli.js";
import { suffix, writePolicy } from "../support/policy.js";

const inventory = [{ name: "k1", kind: "kms-key", rotation: "annual" }];

function setup(rules: Record<string, unknown> = { registry: { roles: ["CISO", "*"] } }) {
  const dir = mkdtempSync(path.join(tmpdir(), "dropkeys-approvals-cli-"));
  const alem = makeSshApprover(dir, "alem", ["CISO", "security-lead"]);
  const alice = makeSshApprover(dir, "alice", ["drop-key-admin", "dpo"]);
  const policyFile = writePolicy(dir, { inventory, approvers: approverEntries([alem, alice]), approvals: rules });
  const journalDir = path.join(dir, "legal");
  const g = ["--policy", policyFile, "--journal", journalDir];
  const cli = (args: string[]) => runCli([...args, ...g], { env: cliAwsEnv, cwd: dir });
  return { dir, alem, alice, policyFile, journalDir, cli };
}

function journal(journalDir: string): Record<string, unknown>[] {
  return readFileSync(path.join(journalDir, "internkontroll.jsonl"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe("asynchronous approval: --request-out, approve, apply", () => {
  it("seals the registry with `dropkeys approve` and plain ssh-keygen signatures, and journals both approvals", async () => {
    const { dir, alem, alice, journalDir, cli } = setup();
    const req = path.join(dir, "seal.json");
    let r = await cli(["approvers", "seal", "--reason", "first registry", "--request-out", req]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Approval request written to ${req}`);
    expect(r.stdout).toContain("Needs approval by: CISO + any registered approver");
    expect(readFileSync(req, "utf8")).toMatch(/^\{"createdAt":"[^\n]*\}\n$/);

    r = await cli(["approve", req, "--as", "alem", "--key", alem.keyFile, "--out", path.join(dir, "alem.sig")]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("operation:    approvers-seal");
    expect(r.stdout).toContain("reason:       first registry");
    const aliceSig = signRequest(req, alice);

    r = await cli(["apply", req, "--approval", path.join(dir, "alem.sig"), "--approval", aliceSig, "--json"]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as { status: string; approvals: { approver: string; role: string; signature?: string }[] };
    expect(doc.status).toBe("done");
    expect(doc.approvals.map((a) => [a.approver, a.role])).toEqual([
      ["alem", "CISO"],
      ["alice", "*"],
    ]);
    expect(doc.approvals[0]!.signature).toBeUndefined();

    const [intent, outcome] = journal(journalDir);
    expect(intent).toMatchObject({ type: "intent", operation: "approvers-seal", reason: "first registry" });
    expect((intent!.approvals as unknown[]).length).toBe(2);
    expect(outcome).toMatchObject({ type: "outcome", outcome: "succeeded" });

    r = await cli(["approvers", "list", "--json"]);
    expect(JSON.parse(r.stdout).registry).toMatchObject({ state: "sealed", sealEntry: 1 });
    r = await cli(["log", "verify", "--approvals"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Every recorded approval verifies");

    // The same signed request again: the seal is already in place, so nothing to do (replays of
    // requests that would act are refused: pipeline.test.ts).
    r = await cli(["apply", req, "--approval", path.join(dir, "alem.sig"), "--approval", aliceSig]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("already sealed");
    expect(journal(journalDir)).toHaveLength(2);
  });

  it("interop: ssh-keygen -Y verify accepts a signature written by `dropkeys approve`", async () => {
    const { dir, alem, cli } = setup();
    const req = path.join(dir, "seal.json");
    expect((await cli(["approvers", "seal", "--request-out", req])).code).toBe(0);
    const sig = path.join(dir, "alem.sig");
    expect((await cli(["approve", req, "--as", "alem", "--key", alem.keyFile, "--out", sig])).code).toBe(0);
    const allowed = path.join(dir, "allowed_signers");
    writeFileSync(allowed, `alem@drop.example namespaces="dropkeys-approval" ${alem.publicKey}\n`);
    const verify = (namespace: string, input: Buffer) =>
      spawnSync("ssh-keygen", ["-Y", "verify", "-f", allowed, "-I", "alem@drop.example", "-n", namespace, "-s", sig], { input, encoding: "utf8" });
    const ok = verify("dropkeys-approval", readFileSync(req));
    expect(ok.stdout).toContain('Good "dropkeys-approval" signature for alem@drop.example');
    expect(ok.status).toBe(0);
    // ...and only over these bytes, in this namespace.
    expect(verify("dropkeys-approval", Buffer.from(readFileSync(req, "utf8").replace("approvers", "approverz"))).status).not.toBe(0);
    expect(verify("file", readFileSync(req)).status).not.toBe(0);
  });

  it("approve signs through ssh-agent when no key file is given; the inline --request/--approval form runs it", async () => {
    const { dir, alem, alice, journalDir, cli } = setup();
    const sock = path.join(dir, "agent.sock");
    const agent = spawn("ssh-agent", ["-D", "-a", sock], { stdio: "ignore" });
    try {
      const agentEnv = { ...process.env, SSH_AUTH_SOCK: sock };
      // `ssh-add -l` exits 1 ("no identities") once the agent answers, 2 while it cannot be reached.
      for (let i = 0; i < 250 && !(existsSync(sock) && spawnSync("ssh-add", ["-l"], { env: agentEnv }).status === 1); i++) await new Promise((r) => setTimeout(r, 20));
      const added = spawnSync("ssh-add", ["-q", alice.keyFile], { env: agentEnv, encoding: "utf8" });
      expect(added.status, added.stderr).toBe(0);
      const req = path.join(dir, "seal.json");
      expect((await cli(["approvers", "seal", "--request-out", req])).code).toBe(0);
      const agentSig = path.join(dir, "alice.sig");
      const r = await runCli(["approve", req, "--as", "alice", "--out", agentSig, "--policy", path.join(dir, "policy.yaml"), "--journal", journalDir], {
        env: { ...cliAwsEnv, SSH_AUTH_SOCK: sock },
        cwd: dir,
      });
      expect(r.code, r.stderr).toBe(0);
      expect(readFileSync(agentSig, "utf8")).toMatch(/^-----BEGIN SSH SIGNATURE-----/);
      // Way 3: the command itself with the request and its approvals.
      const inline = await cli(["approvers", "seal", "--request", req, "--approval", agentSig, "--approval", signRequest(req, alem)]);
      expect(inline.code, inline.stderr).toBe(0);
      expect(inline.stdout).toContain("Sealed the approvers registry: 2 approver(s)");
    } finally {
      agent.kill();
    }
  });

  it("approve refuses a key that is not the approver's registered key, and an unknown name", async () => {
    const { dir, alem, cli } = setup();
    const req = path.join(dir, "seal.json");
    expect((await cli(["approvers", "seal", "--request-out", req])).code).toBe(0);
    let r = await cli(["approve", req, "--as", "alice", "--key", alem.keyFile, "--out", path.join(dir, "x.sig")]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/the key SHA256:\S+ is not alice's registered key/);
    r = await cli(["approve", req, "--as", "zed", "--key", alem.keyFile]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('"zed" is not a registered approver');
  });

  it("without a terminal and without approvals: exit 3 at once, naming the roles and the commands", async () => {
    const { cli } = setup();
    // The same command as a dry run (preflight, request, no approval) is the baseline: without a
    // terminal, the missing approval adds well under a second to it; it never waits for input.
    const dry = await cli(["approvers", "seal", "--dry-run"]);
    expect(dry.code).toBe(0);
    const r = await cli(["approvers", "seal"]);
    expect(r.code).toBe(3);
    expect(r.ms - dry.ms).toBeLessThan(1000);
    expect(r.ms).toBeLessThan(5000);
    expect(r.stderr).toContain('approvers-seal needs approval by rule "registry" (CISO + any registered approver, distinct people); still needed: CISO + any registered approver');
    expect(r.stderr).toContain("--request-out request.json");
    expect(r.stderr).toContain("dropkeys apply request.json --approval");
  });

  it("a request file changed after it was written is refused (exit 2), whoever signed it", async () => {
    const { dir, cli } = setup();
    const req = path.join(dir, "seal.json");
    expect((await cli(["approvers", "seal", "--request-out", req])).code).toBe(0);
    writeFileSync(req, JSON.stringify(JSON.parse(readFileSync(req, "utf8")), null, 2));
    const r = await cli(["apply", req]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("was changed after dropkeys wrote it");
    writeFileSync(req, "garbage");
    expect((await cli(["apply", req])).stderr).toContain("is not a dropkeys operation request: it is not JSON");
  });

  it("an expired request: lifetime 2 s, approvals given in time, applied too late", async () => {
    const { dir, alem, alice, cli } = setup({ registry: { roles: ["CISO", "*"], requestLifetime: "2s" } });
    const req = path.join(dir, "seal.json");
    expect((await cli(["approvers", "seal", "--request-out", req])).code).toBe(0);
    const sigs = [signRequest(req, alem), signRequest(req, alice)];
    await new Promise((r) => setTimeout(r, 2100));
    const r = await cli(["apply", req, "--approval", sigs[0]!, "--approval", sigs[1]!]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/request \S+ expired at/);
  });
});

describe("the registry seal rotates like TUF's root", () => {
  async function sealed() {
    const s = setup();
    await sealRegistry({ policyFile: s.policyFile, journalDir: s.journalDir, approvers: [s.alem, s.alice], env: cliAwsEnv });
    const dave = makeSshApprover(s.dir, "dave", ["CISO"]);
    const erin = makeSshApprover(s.dir, "erin", ["drop-key-admin"]);
    writePolicy(s.dir, { inventory, approvers: approverEntries([s.alem, s.alice, dave, erin]), approvals: { registry: { roles: ["CISO", "*"] } } }, path.basename(s.policyFile));
    return { ...s, dave, erin };
  }

  async function reseal(s: Awaited<ReturnType<typeof sealed>>, signers: TestApprover[]) {
    const req = path.join(s.dir, `reseal-${signers.map((a) => a.name).join("-")}.json`);
    const r = await s.cli(["approvers", "seal", "--request-out", req]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("approved by the registry sealed in entry #1 (alem, alice)");
    expect(r.stdout).toContain("+ dave <dave@drop.example> [CISO] ssh");
    return s.cli(["apply", req, ...signers.flatMap((a) => ["--approval", signRequest(req, a)])]);
  }

  it("refuses to seal a list where two names share a key or an email (one person twice)", async () => {
    const s = setup();
    const twin = { name: "alem2", email: "alem.two@drop.example", roles: ["drop-key-admin"], ssh: s.alem.publicKey };
    writePolicy(s.dir, { inventory, approvers: [...approverEntries([s.alem, s.alice]), twin] }, path.basename(s.policyFile));
    let r = await s.cli(["approvers", "seal", "--request-out", path.join(s.dir, "x.json")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("approvers alem and alem2 have the same ssh key: each approver is one person with their own key");
    writePolicy(s.dir, { inventory, approvers: [...approverEntries([s.alem, s.alice]), { ...twin, ssh: s.alice.publicKey, email: s.alem.email }] }, path.basename(s.policyFile));
    r = await s.cli(["approvers", "seal", "--request-out", path.join(s.dir, "x.json")]);
    expect(r.stderr).toContain("approvers alem and alem2 have the same email");
  });

  it("shows the edited, unsealed list as changed, and refuses other operations until it is sealed", async () => {
    const s = await sealed();
    let r = await s.cli(["approvers", "status"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("CHANGED since the last seal");
    // A real key to act on (the operation resolves it before the pipeline checks the registry).
    const name = `k1-${suffix()}`;
    const key = await kmsClient().send(new CreateKeyCommand({}));
    await kmsClient().send(new CreateAliasCommand({ AliasName: `alias/${name}`, TargetKeyId: key.KeyMetadata!.KeyId! }));
    writePolicy(s.dir, { inventory: [{ name, kind: "kms-key", rotation: "annual" }], approvers: approverEntries([s.alem, s.alice, s.dave, s.erin]), approvals: { registry: { roles: ["CISO", "*"] }, disable: { roles: [["security-lead", "CISO"]] } } }, path.basename(s.policyFile));
    r = await s.cli(["disable", name, "--reason", "test", "--dry-run"]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/the approvers registry changed without approval: the policy's approvers \(digest \w+…\) are not the list sealed in journal entry #1/);
    expect(r.stderr).toContain("dropkeys approvers seal");
    expect(await reseal(s, [s.alem, s.alice])).toMatchObject({ code: 0 });
    r = await s.cli(["disable", name, "--reason", "test", "--dry-run"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("Dry run");
  });

  it("refuses a re-seal signed only by the newly added people", async () => {
    const s = await sealed();
    const r = await reseal(s, [s.dave, s.erin]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/approval \S+dave\S*: signed by key SHA256:\S+, which belongs to no registered approver/);
    expect(r.stderr).toContain("approved by people of the previously sealed registry");
    expect(journal(s.journalDir)).toHaveLength(2);
  });

  it("accepts a re-seal signed by people of the previous seal; the new list then verifies", async () => {
    const s = await sealed();
    const r = await reseal(s, [s.alem, s.alice]);
    expect(r.code).toBe(0);
    const entries = journal(s.journalDir);
    expect(entries).toHaveLength(4);
    expect((entries[2]!.params as { previous: string }).previous).toBe((entries[0]!.params as { digest: string }).digest);
    expect(JSON.parse((await s.cli(["approvers", "list", "--json"])).stdout).registry).toMatchObject({ state: "sealed", sealEntry: 3 });
    expect((await s.cli(["log", "verify", "--approvals"])).code).toBe(0);
  });
});
