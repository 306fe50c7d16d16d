// schedule-deletion at a real terminal (a pseudo-terminal via util-linux `script`): the person
// sees the key's state, must type the alias before any approval is asked, and then approves at
// the terminal. A wrong alias is exit 2 with nothing scheduled.
import { CreateAliasCommand, CreateKeyCommand, DescribeKeyCommand } from "@aws-sdk/client-kms";
import { beforeAll, describe, expect, it } from "vitest";
import { inTerminal } from "../approvals/terminal.js";
import { kmsClient } from "../support/aws.js";
import { suffix } from "../support/policy.js";
import { kmsEntry, makeWorld, type World } from "./setup.js";

type Terminal = ReturnType<typeof inTerminal>;

const name = `kt-${suffix()}`;
let w: World;

beforeAll(async () => {
  w = await makeWorld("keys-tty", { inventory: [kmsEntry(name)] });
  const kms = kmsClient();
  const key = await kms.send(new CreateKeyCommand({ Description: name }));
  await kms.send(new CreateAliasCommand({ AliasName: `alias/${name}`, TargetKeyId: key.KeyMetadata!.KeyId! }));
});

const state = async () => (await kmsClient().send(new DescribeKeyCommand({ KeyId: `alias/${name}` }))).KeyMetadata!.KeyState;

/** At the approval prompts: alice signs as drop-key-admin, then alem as CISO, each with a key file. */
async function signAsAdminAndCiso(t: Terminal): Promise<void> {
  await t.waitFor("Who approves as drop-key-admin?");
  t.type("\r");
  await t.waitFor("alice: private key file");
  t.type(w.alice.keyFile + "\r");
  await t.waitFor("Who approves as CISO?");
  t.type("\r");
  await t.waitFor("alem: private key file");
  t.type(w.alem.keyFile + "\r");
}

describe("schedule-deletion at a terminal", () => {
  const args = () => ["schedule-deletion", name, "--days", "7", "--reason", "end of life", "--policy", w.policyFile, "--journal", w.journalDir];

  it("a mistyped alias is exit 2 and nothing is scheduled or asked", async () => {
    const t = inTerminal(args(), {});
    try {
      await t.waitFor(`${name}: `);
      await t.waitFor(`Type alias/${name} to confirm its deletion`);
      t.type(`alias/${name}-typo\r`);
      expect(await t.exit).toBe(2);
    } finally {
      t.kill();
    }
    expect(t.output).toContain("does not match");
    expect(t.output).not.toContain("Who approves");
    expect(await state()).toBe("Enabled");
  });

  it("the right alias, then each approver signs at the terminal: the key is pending deletion", async () => {
    const t = inTerminal(args(), {});
    try {
      await t.waitFor(`Type alias/${name} to confirm its deletion`);
      t.type(`alias/${name}\r`);
      await signAsAdminAndCiso(t);
      expect(await t.exit).toBe(0);
    } finally {
      t.kill();
    }
    expect(t.output).toContain(`Scheduled ${name}`);
    expect(await state()).toBe("PendingDeletion");
  });

  it("generate on the alias now offers the choice; moving the alias makes a new key with the creation approvals", async () => {
    const old = (await kmsClient().send(new DescribeKeyCommand({ KeyId: `alias/${name}` }))).KeyMetadata!.KeyId;
    const t = inTerminal(["generate", name, "--policy", w.policyFile, "--journal", w.journalDir], {});
    try {
      await t.waitFor("which is pending deletion");
      await t.waitFor("What now?");
      expect(t.output).toContain("Keep that key: cancel its deletion");
      t.type("\u001b[B\r");
      await signAsAdminAndCiso(t);
      expect(await t.exit).toBe(0);
    } finally {
      t.kill();
    }
    expect(t.output).toContain(`(alias moved from ${old})`);
    const now = (await kmsClient().send(new DescribeKeyCommand({ KeyId: `alias/${name}` }))).KeyMetadata!;
    expect(now.KeyId).not.toBe(old);
    expect(now.KeyState).toBe("Enabled");
  });
});

