// The drill's two demo approvers and the asynchronous approval flow later stages use:
// write the request with --request-out, each approver signs it with plain ssh-keygen, then
// `dropkeys apply` runs exactly that request. Keys are made at run time inside drill.work.
import { copyFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";

export const DEMO_APPROVERS = [
  { name: "alem", email: "ciso@drop.example", roles: ["CISO", "security-lead"] },
  { name: "alice", email: "alice@drop.example", roles: ["drop-key-admin", "dpo", "system-owner"] },
];

/** The private key file of a demo approver (made by createDemoApprovers). */
export function keyFile(drill, name) {
  return path.join(drill.work, "approver-keys", `${name}_ed25519`);
}

/** Make an Ed25519 key per demo approver and return the policy's `approvers` entries. */
export function createDemoApprovers(drill) {
  mkdirSync(path.join(drill.work, "approver-keys"), { recursive: true });
  return DEMO_APPROVERS.map((a) => {
    const key = keyFile(drill, a.name);
    if (!existsSync(key)) run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `${a.name}@drill`, "-f", key]);
    return { ...a, ssh: readFileSync(`${key}.pub`, "utf8").trim() };
  });
}

let requests = 0;

/**
 * Run `dropkeys ARGS` through two-person approval: --request-out, a signature per named
 * approver (ssh-keygen -Y sign, as an approver would on their own machine), then the signed
 * request runs: with `dropkeys apply` (default), or, `runWith: "command"`, with the command
 * itself and `--request FILE` as a runbook step would (schedule-deletion's --confirm, which
 * is not part of the request, is passed to that step again).
 * Returns the last step's result (or the request step's when it wrote no request).
 */
export function approve(drill, args, approverNames, { title = `dropkeys ${args[0]}`, expect = [0], runWith = "apply" } = {}) {
  const request = path.join(drill.work, `request-${++requests}.json`);
  const asked = drill.step(`${title}: write the approval request`, [...args, "--request-out", request]);
  if (asked.status !== 0 || !existsSync(request)) return asked;
  const sigs = [];
  for (const name of approverNames) {
    // Each approver signs their own copy (ssh-keygen writes FILE.sig next to FILE).
    const copy = `${request.replace(/\.json$/, "")}.${name}.json`;
    copyFileSync(request, copy);
    console.log(`$ ssh-keygen -Y sign -n dropkeys-approval -f ${path.relative(drill.work, keyFile(drill, name))} ${path.basename(copy)}   # ${name}`);
    run("ssh-keygen", ["-q", "-Y", "sign", "-n", "dropkeys-approval", "-f", keyFile(drill, name), copy]);
    sigs.push("--approval", `${copy}.sig`);
  }
  const by = approverNames.join(" + ");
  if (runWith === "apply") return drill.step(`${title}: apply with ${by}`, ["apply", request, ...sigs], { expect });
  // The command and its positional arguments, then the signed request.
  const local = args.includes("--confirm") ? ["--confirm", args[args.indexOf("--confirm") + 1]] : [];
  const firstFlag = args.findIndex((arg) => arg.startsWith("--"));
  const command = firstFlag < 0 ? args : args.slice(0, firstFlag);
  return drill.step(`${title}: run it with ${by}'s approval`, [...command, "--request", request, ...sigs, ...local], { expect });
}

function run(command, args) {
  const r = spawnSync(command, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${command} ${args.join(" ")} failed: ${r.stderr}`);
}
