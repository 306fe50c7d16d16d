// AWS failing midway: the KMS emulator is killed after the journal intent is written and before
// the AWS call. The outcome entry must say what happened and what state the key is in, the
// error is exit 1, and the message names the command to run next. This test starts its own
// strict KMS emulator (the shared ones stay up) and runs the real pipeline in-process.
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { CreateAliasCommand, CreateKeyCommand, KMSClient } from "@aws-sdk/client-kms";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Context } from "../../src/lib/context.js";
import { DropkeysError } from "../../src/lib/errors.js";
import { runOperation } from "../../src/operations/pipeline.js";
import { build as buildDisable } from "../../src/operations/disable.js";
import { build as buildGenerate } from "../../src/operations/generate.js";
import { signRequest } from "../support/approvers.js";
import { freePort } from "../support/net.js";
import { emulatorEndpoints, suffix } from "../support/policy.js";
import { kmsEntry, makeWorld, type World } from "./setup.js";

const s = suffix();
const names = { victim: `kf-victim-${s}`, fresh: `kf-fresh-${s}` };
let w: World;
let url: string;
let emulator: ChildProcess | undefined;

async function startKms(): Promise<void> {
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  emulator = spawn("python3", [path.resolve("scripts/emulators/moto_kms_strict.py"), "-H", "127.0.0.1", "-p", String(port)], { stdio: "ignore" });
  for (let i = 0; i < 150; i++) {
    try {
      if ((await fetch(`${url}/moto-api/`)).status < 500) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("the test's own KMS emulator did not start");
}

async function killKms(): Promise<void> {
  const child = emulator;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGKILL");
  });
}

beforeAll(async () => {
  await startKms();
  process.env.AWS_MAX_ATTEMPTS = "1";
  w = await makeWorld("keys-failure", {
    inventory: [kmsEntry(names.victim), kmsEntry(names.fresh)],
    endpoints: { ...emulatorEndpoints(), kms: { "eu-north-1": url, "eu-west-1": url } },
  });
  const kms = new KMSClient({ region: "eu-north-1", endpoint: url, credentials: { accessKeyId: "test", secretAccessKey: "test" }, maxAttempts: 1 });
  const key = await kms.send(new CreateKeyCommand({ Description: names.victim }));
  await kms.send(new CreateAliasCommand({ AliasName: `alias/${names.victim}`, TargetKeyId: key.KeyMetadata!.KeyId! }));
});
afterAll(killKms);

function context(): Context {
  return new Context({ policy: w.policyFile, journal: w.journalDir, json: true, color: false, verbose: false, input: false });
}

describe("the KMS endpoint dies between the journal intent and the AWS call", () => {
  it("journals a failed outcome with the key's state, exits 1, and names the command to run next", async () => {
    const input = { name: names.victim, params: { name: names.victim, detectedAt: new Date().toISOString() }, reason: "leaked in a CI log", incident: `INC-KILL-${s}` };
    const requestFile = path.join(w.dir, "disable.request.json");
    const requested = await runOperation(context(), await buildDisable(context(), input), { requestOut: requestFile });
    expect(requested.status).toBe("requested");
    const approval = signRequest(requestFile, w.alem);

    const ctx = context();
    const spec = await buildDisable(ctx, input);
    const execute = spec.execute.bind(spec);
    let journalledBeforeKill = false;
    spec.execute = async (request) => {
      journalledBeforeKill = w.journal().at(-1)?.type === "intent";
      await killKms();
      return execute(request);
    };
    const error = await runOperation(ctx, spec, { requestFile, approvalFiles: [approval] }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(journalledBeforeKill).toBe(true);
    expect(error).toBeInstanceOf(DropkeysError);
    const e = error as DropkeysError;
    expect(e.exitCode).toBe(1);
    expect(e.message).toContain("DisableKey");
    expect(e.message).toContain("State now: unknown: KMS in eu-north-1 could not be asked");
    expect(e.hint).toContain(`Next: dropkeys disable ${names.victim} --reason 'leaked in a CI log' --incident INC-KILL-${s}`);

    const [intent, outcome] = w.journal().slice(-2);
    expect(intent).toMatchObject({ type: "intent", operation: "disable", incident: `INC-KILL-${s}` });
    expect(outcome).toMatchObject({ type: "outcome", operation: "disable", intentSeq: intent!.seq, outcome: "failed" });
    expect((outcome!.error as { code: string }).code).toMatch(/^aws\./);
    expect(outcome!.state).toMatch(/^unknown: KMS in eu-north-1 could not be asked .*was Enabled before the call/);
    expect(outcome!.next).toEqual([expect.stringContaining(`dropkeys disable ${names.victim}`)]);
  });

  it("generate with KMS down: the outcome says nothing was created and to run generate again", async () => {
    const ctx = context();
    const spec = await buildGenerate(ctx, { name: names.fresh, params: { name: names.fresh } });
    // The endpoint is already dead: execute() and onFailure() are called as the pipeline calls them.
    const error = await spec.execute({ id: "00000000-0000-4000-8000-000000000000" } as never).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DropkeysError);
    expect((error as DropkeysError).message).toContain("CreateKey");
    const report = await spec.onFailure!(error);
    expect(report.state).toBe(`nothing was created (alias/${names.fresh} does not exist)`);
    expect(report.next).toEqual([`dropkeys generate ${names.fresh}`]);
  });
});
