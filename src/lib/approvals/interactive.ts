// Approval at the terminal: show the request in plain words, then for each role still needed
// ask which registered approver signs, and have them sign (key file + passphrase asked by
// ssh-keygen itself, ssh-agent, or KMS profile + MFA). Ctrl-C ends with 130, nothing done.
import { homedir } from "node:os";
import path from "node:path";
import { isDropkeysError } from "../errors.js";
import type { Approver } from "../policy/schema.js";
import { describeRequest } from "./describe.js";
import type { CollectOptions } from "./collect-options.js";
import { candidatesFor, describeSlot } from "./matching.js";
import { signAs } from "./sign.js";
import { verifyApprovalText, type VerifiedApproval, type VerifyContext } from "./verify.js";

export interface PromptHooks {
  /** Slot indexes still unfilled with these approvals. */
  unfilled(list: VerifiedApproval[]): number[];
  /** Record a new approval (refuses the same person twice). */
  accept(approval: VerifiedApproval): void;
}

const MAX_TRIES = 3;

export async function promptForApprovals(o: CollectOptions, vc: VerifyContext, verified: VerifiedApproval[], hooks: PromptHooks): Promise<void> {
  const inquirer = await import("@inquirer/prompts");
  // Under --json stdout holds one JSON document: the conversation goes to stderr then.
  const context = o.out.json ? { output: process.stderr } : {};
  const prompts: Prompts = {
    select: (config) => inquirer.select(config, context),
    input: (config) => inquirer.input(config, context),
  };
  const { select } = prompts;
  const say = (text: string) => (o.out.json ? process.stderr.write(text + "\n") : o.out.info(text));
  say(["", o.out.color.bold("Approval needed"), ...describeRequest(o.request, o.summary), ""].join("\n"));
  for (;;) {
    const unfilled = hooks.unfilled(verified);
    if (unfilled.length === 0) return;
    const slot = o.rule.roles[unfilled[0]!]!;
    const signed = (a: Approver) => verified.some((v) => v.approver.name === a.name || v.approver.email === a.email);
    const candidates = candidatesFor(slot, o.policy.approvers).filter((a) => !signed(a));
    // Nobody left who could: the caller reports what is missing.
    if (candidates.length === 0) return;
    const role = describeSlot(slot);
    const name = await select({
      message: `Who approves as ${role}?`,
      choices: candidates.map((a) => ({ name: `${a.name} (${a.roles.join(", ")}; ${a.kms ? "KMS key" : "SSH key"})`, value: a.name })),
    });
    const approver = candidates.find((a) => a.name === name)!;
    for (let attempt = 1; ; attempt++) {
      try {
        const text = await signOnce(o, approver, prompts);
        hooks.accept(await verifyApprovalText(text, `terminal (${approver.name})`, vc));
        say(o.out.color.green(`✔ ${approver.name} approved as ${role}`));
        break;
      } catch (error) {
        if (!isDropkeysError(error) || error.kind === "interrupted" || error.code === "approval.same-person" || attempt >= MAX_TRIES) throw error;
        o.out.warn(`${error.message}${error.hint ? ` (${error.hint})` : ""}; try again`);
      }
    }
  }
}

interface Prompts {
  select<V>(config: { message: string; choices: { name: string; value: V }[] }): Promise<V>;
  input(config: { message: string; default?: string }): Promise<string>;
}

async function signOnce(o: CollectOptions, approver: Approver, { select, input }: Prompts): Promise<string> {
  const env = { aws: o.aws, endpoints: o.policy.endpoints };
  if (approver.kms) {
    const profile = await input({
      message: `${approver.name}: AWS profile for KMS key ${approver.kms} (empty: the current credentials)`,
      default: approver.kmsProfile ?? "",
    });
    return signAs(env, approver, o.request, o.requestBytes, { kmsProfile: profile.trim() || undefined, terminal: true });
  }
  const how = process.env.SSH_AUTH_SOCK
    ? await select({
        message: `${approver.name}: sign with`,
        choices: [
          { name: "the registered key in ssh-agent", value: "agent" },
          { name: "an OpenSSH key file (passphrase asked by ssh-keygen)", value: "file" },
        ],
      })
    : "file";
  if (how === "agent") return signAs(env, approver, o.request, o.requestBytes, { terminal: true });
  const keyFile = await input({ message: `${approver.name}: private key file`, default: path.join(homedir(), ".ssh", "id_ed25519") });
  return signAs(env, approver, o.request, o.requestBytes, { keyFile: expandHome(keyFile), terminal: true });
}

function expandHome(file: string): string {
  return file.startsWith("~/") ? path.join(homedir(), file.slice(2)) : file;
}
