// The rotation engine against moto's Secrets Manager: labels and tags read back after every
// step, crashes simulated by stopping the engine between steps (a throwing step listener).
import { randomBytes } from "node:crypto";
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
} from "@aws-sdk/client-secrets-manager";
import { describe, expect, it } from "vitest";
import { isDropkeysError } from "../../src/lib/errors.js";
import { applyFinish, planFinish, requireState, rotate, versionTokenFor, type RotationStep, type StepName } from "../../src/lib/jwt/rotation.js";
import { TAG_OVERLAP_ENDS } from "../../src/lib/jwt/secret-state.js";
import { secretsClient } from "../support/aws.js";
import { suffix } from "../support/policy.js";

const sm = secretsClient();

async function newSecret(): Promise<{ name: string; value: string; version: string }> {
  const name = `JWT_SECRET-${suffix()}`;
  const value = randomBytes(32).toString("hex");
  const out = await sm.send(new CreateSecretCommand({ Name: name, SecretString: value }));
  return { name, value, version: out.VersionId! };
}

async function labels(name: string): Promise<Record<string, string[]>> {
  const out = await sm.send(new ListSecretVersionIdsCommand({ SecretId: name, IncludeDeprecated: true }));
  return Object.fromEntries((out.Versions ?? []).map((v) => [v.VersionId!, [...(v.VersionStages ?? [])].sort()]));
}

async function tags(name: string): Promise<Record<string, string>> {
  const out = await sm.send(new DescribeSecretCommand({ SecretId: name }));
  return Object.fromEntries((out.Tags ?? []).map((t) => [t.Key!, t.Value!]));
}

async function valueOf(name: string, versionId: string): Promise<string> {
  return (await sm.send(new GetSecretValueCommand({ SecretId: name, VersionId: versionId }))).SecretString!;
}

async function current(name: string): Promise<string> {
  return (await sm.send(new GetSecretValueCommand({ SecretId: name, VersionStage: "AWSCURRENT" }))).SecretString!;
}

class Crash extends Error {}

/** A step listener that records the labels after each step and "crashes" after `stopAfter`. */
function recorder(name: string, stopAfter?: StepName) {
  const seen: { step: RotationStep; labels: Record<string, string[]> }[] = [];
  return {
    seen,
    async onStep(step: RotationStep) {
      seen.push({ step, labels: await labels(name) });
      if (step.step === stopAfter) throw new Crash(`stopped after ${stopAfter}`);
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("scheduled rotation", () => {
  it("puts, tests, promotes with a compare-and-swap, records the overlap, and --finish retires the old version after it", async () => {
    const s = await newSecret();
    const token = versionTokenFor(`req-${suffix()}`);
    const rec = recorder(s.name);
    const result = await rotate({ sm, secretId: s.name, token, emergency: false, overlapMs: 1500, onStep: rec.onStep });

    expect(rec.seen.map((x) => x.step.step)).toEqual(["pending", "tested", "promoted", "pending-removed", "overlap-recorded"]);
    const at = (step: StepName) => rec.seen.find((x) => x.step.step === step)!.labels;
    expect(at("pending")).toEqual({ [s.version]: ["AWSCURRENT"], [token]: ["AWSPENDING"] });
    expect(at("tested")).toEqual({ [s.version]: ["AWSCURRENT"], [token]: ["AWSPENDING"] });
    expect(at("promoted")).toEqual({ [s.version]: ["AWSPREVIOUS"], [token]: ["AWSCURRENT", "AWSPENDING"] });
    expect(at("pending-removed")).toEqual({ [s.version]: ["AWSPREVIOUS"], [token]: ["AWSCURRENT"] });
    expect(await labels(s.name)).toEqual({ [s.version]: ["AWSPREVIOUS"], [token]: ["AWSCURRENT"] });

    expect(result).toMatchObject({ oldVersion: s.version, newVersion: token, reused: false, previousRetired: false });
    expect(result.test.passed).toBe(true);
    const newValue = await current(s.name);
    expect(newValue).toMatch(/^[0-9a-f]{64}$/);
    expect(newValue).not.toBe(s.value);
    expect(await valueOf(s.name, s.version)).toBe(s.value);
    const tagged = await tags(s.name);
    expect(tagged[TAG_OVERLAP_ENDS]).toBe(result.overlapEnds!.toISOString());
    // The result and the step details never carry a value.
    expect(JSON.stringify({ result, steps: rec.seen })).not.toContain(newValue);
    expect(JSON.stringify({ result, steps: rec.seen })).not.toContain(s.value);

    // --finish inside the overlap: nothing changes.
    const early = planFinish(await requireState(sm, s.name), new Date());
    expect(early.action).toBe("wait");
    await applyFinish(sm, s.name, early);
    expect(await labels(s.name)).toEqual({ [s.version]: ["AWSPREVIOUS"], [token]: ["AWSCURRENT"] });

    await sleep(1700);
    const late = planFinish(await requireState(sm, s.name), new Date());
    expect(late).toMatchObject({ action: "retire", oldVersion: s.version, newVersion: token });
    const finished = await applyFinish(sm, s.name, late);
    expect(finished.verification?.result).toBe("passed");
    expect(await labels(s.name)).toEqual({ [s.version]: [], [token]: ["AWSCURRENT"] });
    expect(await tags(s.name)).not.toHaveProperty(TAG_OVERLAP_ENDS);

    // Twice is harmless.
    const again = planFinish(await requireState(sm, s.name), new Date());
    expect(again.action).toBe("nothing");
    await applyFinish(sm, s.name, again);
    expect(await labels(s.name)).toEqual({ [s.version]: [], [token]: ["AWSCURRENT"] });
  });

  it("refuses a second rotation while the overlap runs, with the time it ends", async () => {
    const s = await newSecret();
    const first = await rotate({ sm, secretId: s.name, token: versionTokenFor(`a-${suffix()}`), emergency: false, overlapMs: 60_000 });
    const before = await labels(s.name);
    const error = await rotate({ sm, secretId: s.name, token: versionTokenFor(`b-${suffix()}`), emergency: false, overlapMs: 60_000 }).catch((e: unknown) => e);
    expect(isDropkeysError(error) && error.code).toBe("jwt.overlap-running");
    expect(isDropkeysError(error) && error.exitCode).toBe(1);
    expect(isDropkeysError(error) && error.details?.overlapEnds).toBe(first.overlapEnds!.toISOString());
    expect(await labels(s.name)).toEqual(before);
  });

  it("a missing secret is a usage error that points at `generate`", async () => {
    const error = await rotate({ sm, secretId: `JWT_SECRET-missing-${suffix()}`, token: versionTokenFor("x"), emergency: false, overlapMs: 1000 }).catch((e: unknown) => e);
    expect(isDropkeysError(error) && error.exitCode).toBe(2);
    expect(isDropkeysError(error) && error.hint).toMatch(/dropkeys generate JWT_SECRET-missing/);
  });

  it("stops when someone else moves AWSCURRENT between the test and the promotion, and rolls its own version back", async () => {
    const s = await newSecret();
    const token = versionTokenFor(`c-${suffix()}`);
    const theirs = randomBytes(32).toString("hex");
    let theirVersion = "";
    const error = await rotate({
      sm,
      secretId: s.name,
      token,
      emergency: false,
      overlapMs: 60_000,
      onStep: async (step) => {
        if (step.step === "tested") {
          // Another tool rotates in the meantime (PutSecretValue with AWSCURRENT).
          theirVersion = (await sm.send(new PutSecretValueCommand({ SecretId: s.name, SecretString: theirs, VersionStages: ["AWSCURRENT"] }))).VersionId!;
        }
      },
    }).catch((e: unknown) => e);
    expect(isDropkeysError(error) && error.code).toBe("jwt.concurrent-rotation");
    const after = await labels(s.name);
    expect(after[theirVersion]).toEqual(["AWSCURRENT"]);
    expect(after[token]).toEqual([]);
    expect(Object.values(after).flat().filter((l) => l === "AWSPENDING")).toHaveLength(0);
  });
});

describe("crash recovery", () => {
  it("the same approved request run again after a crash in step 1 reuses its version (one new version, same value)", async () => {
    const s = await newSecret();
    const token = versionTokenFor(`d-${suffix()}`);
    await expect(rotate({ sm, secretId: s.name, token, emergency: false, overlapMs: 60_000, onStep: recorder(s.name, "pending").onStep })).rejects.toBeInstanceOf(Crash);
    expect(await labels(s.name)).toEqual({ [s.version]: ["AWSCURRENT"], [token]: ["AWSPENDING"] });
    const pendingValue = await valueOf(s.name, token);

    const result = await rotate({ sm, secretId: s.name, token, emergency: false, overlapMs: 60_000 });
    expect(result.reused).toBe(true);
    expect(await labels(s.name)).toEqual({ [s.version]: ["AWSPREVIOUS"], [token]: ["AWSCURRENT"] });
    expect(await current(s.name)).toBe(pendingValue);
  });

  it("a new request rolls back another run's unpromoted version: never two pending versions", async () => {
    const s = await newSecret();
    const stale = versionTokenFor(`e-${suffix()}`);
    await expect(rotate({ sm, secretId: s.name, token: stale, emergency: false, overlapMs: 60_000, onStep: recorder(s.name, "tested").onStep })).rejects.toBeInstanceOf(Crash);

    const token = versionTokenFor(`f-${suffix()}`);
    const rec = recorder(s.name);
    const result = await rotate({ sm, secretId: s.name, token, emergency: false, overlapMs: 60_000, onStep: rec.onStep });
    expect(result.recovered).toEqual([`rolled back the unpromoted version ${stale}`]);
    for (const { labels: l } of rec.seen) {
      expect(Object.values(l).flat().filter((x) => x === "AWSPENDING").length).toBeLessThanOrEqual(1);
      expect(Object.values(l).flat().filter((x) => x === "AWSCURRENT")).toHaveLength(1);
    }
    expect(await labels(s.name)).toEqual({ [s.version]: ["AWSPREVIOUS"], [stale]: [], [token]: ["AWSCURRENT"] });
  });

  it("--finish rolls back an unpromoted version", async () => {
    const s = await newSecret();
    const token = versionTokenFor(`g-${suffix()}`);
    await expect(rotate({ sm, secretId: s.name, token, emergency: false, overlapMs: 60_000, onStep: recorder(s.name, "pending").onStep })).rejects.toBeInstanceOf(Crash);
    const plan = planFinish(await requireState(sm, s.name), new Date());
    expect(plan).toEqual({ action: "roll-back", version: token });
    const done = await applyFinish(sm, s.name, plan);
    expect(done.verification?.result).toBe("passed");
    expect(await labels(s.name)).toEqual({ [s.version]: ["AWSCURRENT"], [token]: [] });
    expect(await current(s.name)).toBe(s.value);
  });

  it("a half-promoted version (crash inside step 3): a new scheduled rotation refuses, --finish completes it and starts the overlap", async () => {
    const s = await newSecret();
    const token = versionTokenFor(`h-${suffix()}`);
    await expect(rotate({ sm, secretId: s.name, token, emergency: false, overlapMs: 60_000, onStep: recorder(s.name, "promoted").onStep })).rejects.toBeInstanceOf(Crash);
    expect(await labels(s.name)).toEqual({ [s.version]: ["AWSPREVIOUS"], [token]: ["AWSCURRENT", "AWSPENDING"] });

    const refused = await rotate({ sm, secretId: s.name, token: versionTokenFor(`i-${suffix()}`), emergency: false, overlapMs: 60_000 }).catch((e: unknown) => e);
    expect(isDropkeysError(refused) && refused.code).toBe("jwt.unfinished-rotation");
    expect(isDropkeysError(refused) && refused.hint).toMatch(/--finish/);

    const plan = planFinish(await requireState(sm, s.name), new Date());
    expect(plan.action).toBe("complete");
    const done = await applyFinish(sm, s.name, plan);
    expect(done.verification?.result).toBe("passed");
    expect(done.overlapEnds!.getTime()).toBeGreaterThan(Date.now() + 50_000);
    expect(await labels(s.name)).toEqual({ [s.version]: ["AWSPREVIOUS"], [token]: ["AWSCURRENT"] });
    expect((await tags(s.name))[TAG_OVERLAP_ENDS]).toBe(done.overlapEnds!.toISOString());
  });

  it("the same request run again after a crash before the overlap was recorded completes its own rotation", async () => {
    const s = await newSecret();
    const token = versionTokenFor(`j-${suffix()}`);
    await expect(rotate({ sm, secretId: s.name, token, emergency: false, overlapMs: 60_000, onStep: recorder(s.name, "pending-removed").onStep })).rejects.toBeInstanceOf(Crash);
    expect(await tags(s.name)).not.toHaveProperty(TAG_OVERLAP_ENDS);
    const result = await rotate({ sm, secretId: s.name, token, emergency: false, overlapMs: 60_000 });
    expect(result).toMatchObject({ reused: true, newVersion: token, oldVersion: s.version });
    expect(await labels(s.name)).toEqual({ [s.version]: ["AWSPREVIOUS"], [token]: ["AWSCURRENT"] });
    expect((await tags(s.name))[TAG_OVERLAP_ENDS]).toBe(result.overlapEnds!.toISOString());
  });

  it("the same request run again after it completed (a crash before its outcome) changes nothing", async () => {
    const s = await newSecret();
    const token = versionTokenFor(`q-${suffix()}`);
    const first = await rotate({ sm, secretId: s.name, token, emergency: false, overlapMs: 60_000 });
    const before = await labels(s.name);
    const again = await rotate({ sm, secretId: s.name, token, emergency: false, overlapMs: 60_000 });
    expect(again).toMatchObject({ reused: true, newVersion: token, oldVersion: s.version, overlapEnds: first.overlapEnds });
    expect(await labels(s.name)).toEqual(before);
  });

  it("an emergency rotation completes a half-promoted version, then rotates past it", async () => {
    const s = await newSecret();
    const first = versionTokenFor(`k-${suffix()}`);
    await expect(rotate({ sm, secretId: s.name, token: first, emergency: false, overlapMs: 60_000, onStep: recorder(s.name, "promoted").onStep })).rejects.toBeInstanceOf(Crash);
    const token = versionTokenFor(`l-${suffix()}`);
    const result = await rotate({ sm, secretId: s.name, token, emergency: true, overlapMs: 0 });
    expect(result.recovered).toEqual([`completed the interrupted promotion of ${first}`]);
    expect(await labels(s.name)).toEqual({ [s.version]: [], [first]: [], [token]: ["AWSCURRENT"] });
  });
});

describe("emergency rotation", () => {
  it("rotates inside a running overlap and the old version loses AWSPREVIOUS at once", async () => {
    const s = await newSecret();
    const scheduled = await rotate({ sm, secretId: s.name, token: versionTokenFor(`m-${suffix()}`), emergency: false, overlapMs: 3_600_000 });
    const compromised = await current(s.name);
    const token = versionTokenFor(`n-${suffix()}`);
    const result = await rotate({ sm, secretId: s.name, token, emergency: true, overlapMs: 0 });
    expect(result).toMatchObject({ previousRetired: true, overlapEnds: undefined, oldVersion: scheduled.newVersion });
    expect(await labels(s.name)).toEqual({ [s.version]: [], [scheduled.newVersion]: [], [token]: ["AWSCURRENT"] });
    expect(await current(s.name)).not.toBe(compromised);
    expect(await tags(s.name)).not.toHaveProperty(TAG_OVERLAP_ENDS);
    expect(planFinish(await requireState(sm, s.name), new Date()).action).toBe("nothing");
  });

  it("with a short emergency overlap the old version keeps AWSPREVIOUS until --finish after it", async () => {
    const s = await newSecret();
    const token = versionTokenFor(`o-${suffix()}`);
    const result = await rotate({ sm, secretId: s.name, token, emergency: true, overlapMs: 1000 });
    expect(result.previousRetired).toBe(false);
    expect(await labels(s.name)).toEqual({ [s.version]: ["AWSPREVIOUS"], [token]: ["AWSCURRENT"] });
    await sleep(1200);
    await applyFinish(sm, s.name, planFinish(await requireState(sm, s.name), new Date()));
    expect(await labels(s.name)).toEqual({ [s.version]: [], [token]: ["AWSCURRENT"] });
  });

  it("a crash of an emergency rotation after promotion is finished with no overlap", async () => {
    const s = await newSecret();
    const token = versionTokenFor(`p-${suffix()}`);
    await expect(rotate({ sm, secretId: s.name, token, emergency: true, overlapMs: 0, onStep: recorder(s.name, "promoted").onStep })).rejects.toBeInstanceOf(Crash);
    const plan = planFinish(await requireState(sm, s.name), new Date());
    const done = await applyFinish(sm, s.name, plan);
    expect(done.retired).toBe(s.version);
    expect(await labels(s.name)).toEqual({ [s.version]: [], [token]: ["AWSCURRENT"] });
  });
});
