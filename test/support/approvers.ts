// Approvers for tests: real Ed25519 SSH keys made with ssh-keygen, policy entries for them,
// signatures with plain `ssh-keygen -Y sign`, and helpers that seal the registry and run an
// operation through --request-out / apply as approvers would.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { runCli, type CliResult } from "./cli.js";

export interface TestApprover {
  name: string;
  email: string;
  roles: string[];
  keyFile: string;
  publicKey: string;
}

export function makeSshApprover(dir: string, name: string, roles: string[]): TestApprover {
  const keyFile = path.join(dir, `${name}_ed25519`);
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `${name}@test`, "-f", keyFile]);
  return { name, email: `${name}@drop.example`, roles, keyFile, publicKey: readFileSync(`${keyFile}.pub`, "utf8").trim() };
}

export function approverEntries(approvers: TestApprover[]): Record<string, unknown>[] {
  return approvers.map((a) => ({ name: a.name, email: a.email, roles: a.roles, ssh: a.publicKey }));
}

/** `ssh-keygen -Y sign -n dropkeys-approval`; returns the .sig path (moved to outFile if given). */
export function signRequest(requestFile: string, approver: TestApprover, outFile?: string): string {
  // ssh-keygen always writes FILE.sig: sign a private copy so two approvers never collide.
  const dir = mkdtempSync(path.join(path.dirname(requestFile), `.sign-${approver.name}-`));
  try {
    const copy = path.join(dir, path.basename(requestFile));
    execFileSync("cp", [requestFile, copy]);
    execFileSync("ssh-keygen", ["-q", "-Y", "sign", "-n", "dropkeys-approval", "-f", approver.keyFile, copy], { stdio: ["ignore", "pipe", "pipe"] });
    const target = outFile ?? `${requestFile}.${approver.name}.sig`;
    execFileSync("mv", [`${copy}.sig`, target]);
    return target;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface RunOpts {
  policyFile: string;
  journalDir: string;
  approvers: TestApprover[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

const awsEnv = { AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test", AWS_MAX_ATTEMPTS: "1" };

function globals(opts: RunOpts): string[] {
  return ["--policy", opts.policyFile, "--journal", opts.journalDir];
}

function fail(step: string, r: CliResult): never {
  throw new Error(`${step} exited ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
}

/** Runs `dropkeys <args> --request-out F`, has every approver sign F, then `dropkeys apply F --approval ...`. */
export async function runApproved(args: string[], opts: RunOpts): Promise<CliResult> {
  const env = { ...awsEnv, ...opts.env };
  const requestFile = path.join(mkdtempSync(path.resolve(opts.journalDir, "..", ".request-")), "request.json");
  const cli = { env, ...(opts.cwd ? { cwd: opts.cwd } : {}) };
  const requested = await runCli([...args, ...globals(opts), "--request-out", requestFile], cli);
  // Nothing to do (already sealed, already disabled...): no request was written.
  if (requested.code !== 0 || !existsSync(requestFile)) return requested;
  const sigs = opts.approvers.flatMap((a) => ["--approval", signRequest(requestFile, a)]);
  return runCli(["apply", requestFile, ...sigs, ...globals(opts)], cli);
}

/** The first seal of the registry (trust on first use), signed by `approvers`. */
export async function sealRegistry(opts: { policyFile: string; journalDir: string; approvers: TestApprover[]; env?: NodeJS.ProcessEnv }): Promise<void> {
  const r = await runApproved(["approvers", "seal", "--reason", "test registry"], opts);
  if (r.code !== 0) fail("dropkeys approvers seal / apply", r);
}
