// An endpoint that answers every call "throttled", for ever: each attempt returns quickly, so the
// per-attempt timeout never fires and the SDK keeps backing off. The policy's awsDeadline bounds
// the call as a whole: the command ends within it, exit 1, and the outcome says the call did not
// return, with the state read back.
import { CreateAliasCommand, CreateKeyCommand, DescribeKeyCommand } from "@aws-sdk/client-kms";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kmsClient, kmsUrl } from "../support/aws.js";
import { emulatorEndpoints, suffix } from "../support/policy.js";
import { kmsEntry, makeWorld, type World } from "../keys/setup.js";
import { startFaultProxy, type FaultProxy } from "./fault-proxy.js";
import { faultTally } from "./tally.js";

const tally = faultTally("aws-deadline");
const name = `deadline-${suffix()}`;
const DEADLINE_S = 3;
let w: World;
let proxy: FaultProxy;
let keyId: string;

beforeAll(async () => {
  proxy = await startFaultProxy(kmsUrl("eu-north-1"));
  w = await makeWorld("faults-deadline", {
    inventory: [kmsEntry(name)],
    endpoints: { ...emulatorEndpoints(), kms: { "eu-north-1": proxy.url } },
    awsDeadline: DEADLINE_S,
  });
  const kms = kmsClient();
  const key = await kms.send(new CreateKeyCommand({ Description: name }));
  await kms.send(new CreateAliasCommand({ AliasName: `alias/${name}`, TargetKeyId: key.KeyMetadata!.KeyId! }));
  keyId = key.KeyMetadata!.KeyId!;
});
afterAll(async () => {
  await proxy?.close();
});

describe("an endpoint that throttles every call", () => {
  it("DisableKey throttled for ever with 100 attempts allowed: the call ends at awsDeadline, exit 1, outcome unknown, state read back", async () => {
    proxy.rule = (op) => (op === "DisableKey" ? "throttle" : "forward");
    tally.inject();
    const started = Date.now();
    const r = await w.approved(["disable", name, "--reason", "leaked", "--incident", `INC-DL-${suffix()}`], [w.alem], { AWS_MAX_ATTEMPTS: "100" });
    const ms = Date.now() - started;
    proxy.rule = () => "forward";
    expect(r.code, r.stderr).toBe(1);
    // Several attempts were made and answered "throttled"; none was cut by the per-attempt timeout.
    expect(proxy.counts["DisableKey:throttle"]).toBeGreaterThan(1);
    expect(ms).toBeLessThan(DEADLINE_S * 1000 + 25_000);
    expect(r.stderr).toMatch(/unknown: the call did not return/);
    expect(r.stderr).toMatch(/retries included \(policy awsDeadline\)/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    const outcome = w.journal().filter((e) => e.operation === "disable" && e.type === "outcome").pop() as Record<string, unknown>;
    expect(outcome).toMatchObject({ outcome: "unknown", error: { code: "aws.timeout" } });
    expect(String(outcome.state)).toMatch(/Enabled/);
    expect((await kmsClient().send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.KeyState).toBe("Enabled");
    // The endpoint answers again: the named command finishes the job.
    const again = await w.approved(["disable", name, "--reason", "leaked", "--incident", `INC-DL-${suffix()}`], [w.alem]);
    expect(again.code, again.stderr).toBe(0);
    expect((await kmsClient().send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.KeyState).toBe("Disabled");
    tally.recovered();
  });
});
