// Can this machine's user approve? The key file the policy names for this OS user (`keyFiles`),
// else an approver's registered key in ssh-agent. Optional: most machines never approve.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import type { Context } from "../context.js";
import { localActor } from "../context.js";
import { fingerprint, publicKeyBlob } from "../approvals/sshsig.js";
import { resolvePolicyPath } from "../policy/paths.js";
import type { Approver } from "../policy/schema.js";
import { ok, problem, warning, type CheckResult } from "./check.js";

const ID = "approvers.keys";

export function approverKeys(ctx: Context): CheckResult {
  const { osUser } = localActor();
  const sshApprovers = ctx.policy.approvers.filter((a) => a.ssh && !a.revoked);
  const named = ctx.policy.keyFiles?.[osUser];
  if (named !== undefined) return keyFile(ctx, osUser, named, sshApprovers);
  const inAgent = agentKeys().flatMap((line) => {
    const owner = ownerOf(line, sshApprovers);
    return owner ? [owner.name] : [];
  });
  if (inAgent.length > 0) return ok(ID, `ssh-agent holds the registered key of ${inAgent.join(", ")}`, { osUser, agent: inAgent });
  return ok(ID, `no approver key for OS user ${osUser} (needed only to approve on this machine; name one under keyFiles in the policy)`, { osUser });
}

function keyFile(ctx: Context, osUser: string, named: string, approvers: Approver[]): CheckResult {
  const file = resolvePolicyPath(ctx.policy, named);
  const facts = { osUser, file };
  if (!existsSync(file)) {
    return problem(ID, `the key file the policy names for ${osUser}, ${file}, does not exist`, "Put the approver's private key there, or correct keyFiles in the policy.", facts);
  }
  const pub = file.endsWith(".pub") ? file : `${file}.pub`;
  if (!existsSync(pub)) {
    return warning(ID, `${file} exists, but without ${pub} doctor cannot tell whose key it is`, `Write the public half next to it: \`ssh-keygen -y -f ${file} > ${pub}\`.`, facts);
  }
  const owner = ownerOf(readFileSync(pub, "utf8"), approvers);
  if (!owner) {
    return problem(ID, `${pub} is not the registered key of any approver`, "Register this key for the approver (and seal the registry), or name the right key file under keyFiles.", facts);
  }
  return ok(ID, `${file} is ${owner.name}'s registered key (${fingerprint(publicKeyBlob(owner.ssh!))})`, { ...facts, approver: owner.name });
}

function ownerOf(publicKeyLine: string, approvers: Approver[]): Approver | undefined {
  let blob: Buffer;
  try {
    blob = publicKeyBlob(publicKeyLine);
  } catch {
    return undefined;
  }
  return approvers.find((a) => publicKeyBlob(a.ssh!).equals(blob));
}

/** The public keys ssh-agent holds (none without an agent). */
function agentKeys(): string[] {
  if (!process.env.SSH_AUTH_SOCK) return [];
  const listed = spawnSync("ssh-add", ["-L"], { encoding: "utf8", timeout: 5000 });
  return listed.status === 0 ? listed.stdout.split("\n").filter((l) => l.trim()) : [];
}
