// The JWT secret rotation engine (issue 6 steps 0-4, --finish, emergency promotion, recovery).
// Every label move is one UpdateSecretVersionStage call, so AWSCURRENT is never absent; the new
// version's id is the ClientRequestToken derived from the approved request, so re-running the
// same request finds its own version instead of making a second one.
import { createHash, randomBytes } from "node:crypto";
import {
  GetSecretValueCommand,
  PutSecretValueCommand,
  UpdateSecretVersionStageCommand,
  type SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { awsErrorName, failure, usageError } from "../errors.js";
import type { JournalVerification } from "../journal/journal.js";
import { registerSecret } from "../sensitive.js";
import { awsFailure } from "../targets.js";
import { formatLocal } from "../time.js";
import { formatDuration } from "../duration.js";
import { testNewKey, type KeyTest } from "./hs256.js";
import {
  CURRENT,
  describeLabels,
  hasStage,
  PENDING,
  phaseOf,
  PREVIOUS,
  readState,
  removeTags,
  ROTATION_TAGS,
  setTags,
  TAG_NEW,
  TAG_OLD,
  TAG_OVERLAP,
  TAG_OVERLAP_ENDS,
  type RotationTags,
  type SecretState,
} from "./secret-state.js";

export type StepName =
  | "rolled-back"
  | "recovered"
  | "pending"
  | "tested"
  | "promoted"
  | "pending-removed"
  | "overlap-recorded"
  | "previous-removed";

export interface RotationStep {
  step: StepName;
  version?: string | undefined;
  detail: string;
  overlapEnds?: string | undefined;
}

/** Called after each step; the caller journals it. A throw stops the rotation where it is (tests simulate crashes so). */
export type StepListener = (step: RotationStep) => void | Promise<void>;

export interface RotateOptions {
  sm: SecretsManagerClient;
  secretId: string;
  /** The ClientRequestToken, i.e. the new version's id: `versionTokenFor(request.id)`. */
  token: string;
  emergency: boolean;
  /** How long the old version keeps AWSPREVIOUS after promotion; 0 = retire it at once (emergency). */
  overlapMs: number;
  onStep?: StepListener | undefined;
  now?: () => Date;
}

export interface RotationResult {
  secret: string;
  arn: string;
  oldVersion: string;
  newVersion: string;
  /** The version existed already (same approved request run again after a crash). */
  reused: boolean;
  /** Earlier, interrupted rotations this run completed or rolled back. */
  recovered: string[];
  overlapMs: number;
  /** When the old version loses AWSPREVIOUS (`--finish`); undefined when it was retired at once. */
  overlapEnds: Date | undefined;
  previousRetired: boolean;
  test: KeyTest;
}

/** A stable ClientRequestToken (UUID-shaped, 36 characters) for an approved request id. */
export function versionTokenFor(requestId: string): string {
  const hex = createHash("sha256").update(`dropkeys rotate-jwt\n${requestId}`).digest("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

export function missingSecretError(secretId: string) {
  return usageError(`the secret ${secretId} does not exist in Secrets Manager (or has no current value)`, {
    code: "jwt.secret-missing",
    hint: `Create it first: dropkeys generate ${secretId}`,
  });
}

/** The secret's state; a missing secret or one without AWSCURRENT is a usage error (exit 2). */
export async function requireState(sm: SecretsManagerClient, secretId: string): Promise<SecretState & { current: string }> {
  const state = await readState(sm, secretId);
  if (!state || !state.current) throw missingSecretError(secretId);
  return state as SecretState & { current: string };
}

export async function rotate(options: RotateOptions): Promise<RotationResult> {
  const { sm, secretId, token, emergency } = options;
  const now = options.now ?? (() => new Date());
  const emit = async (step: RotationStep) => options.onStep?.(step);
  const recovered: string[] = [];
  let state = await requireState(sm, secretId);
  const phase = phaseOf(state);

  // Recovery first: whatever an earlier run left is completed or rolled back.
  if (phase.kind === "half-promoted" || phase.kind === "promoted" || phase.kind === "overlap") {
    if (phase.version === token) {
      // This same request promoted its version before it died: finish its own work.
      const done = await completePromotion(sm, state, phase.rotation, now, emit);
      return {
        secret: state.name,
        arn: state.arn,
        oldVersion: phase.rotation.oldVersion,
        newVersion: token,
        reused: true,
        recovered: [`completed this request's own promotion of ${token}`],
        overlapMs: phase.rotation.overlapMs,
        overlapEnds: done.overlapEnds,
        previousRetired: done.previousRetired,
        test: { passed: true, detail: "tested before its promotion by the interrupted run" },
      };
    }
    if (phase.kind !== "overlap") {
      if (!emergency) throw unfinishedError(state, phase.version);
      await completePromotion(sm, state, phase.rotation, now, emit);
      recovered.push(`completed the interrupted promotion of ${phase.version}`);
      state = await requireState(sm, secretId);
    } else if (!emergency && phase.ends > now()) {
      throw overlapRunningError(state, phase.ends, now());
    }
  }
  if (phase.kind === "pending" && phase.version !== token) {
    await rollBack(sm, state, phase.version);
    recovered.push(`rolled back the unpromoted version ${phase.version}`);
    await emit({ step: "rolled-back", version: phase.version, detail: "an interrupted rotation's pending version lost AWSPENDING" });
    state = await requireState(sm, secretId);
  }
  // AWSPENDING left on the current version by someone else's half-done rotation.
  for (const stray of state.pending.filter((id) => id === state.current && id !== token)) {
    await moveLabel(sm, secretId, PENDING, { from: stray });
    recovered.push(`removed a stray AWSPENDING from the current version ${stray}`);
    await emit({ step: "recovered", version: stray, detail: "stray AWSPENDING removed from AWSCURRENT" });
    state = await requireState(sm, secretId);
  }

  // Step 1: the new value, with AWSPENDING only, under the request's token.
  const oldVersion = state.current;
  if (oldVersion === token) throw failure(`version ${token} is already AWSCURRENT`, { code: "jwt.already-current" });
  const reused = state.versions.some((v) => v.id === token);
  if (!reused) {
    const bytes = randomBytes(32);
    const value = bytes.toString("hex");
    bytes.fill(0);
    registerSecret(value);
    try {
      await sm.send(new PutSecretValueCommand({ SecretId: secretId, ClientRequestToken: token, SecretString: value, VersionStages: [PENDING] }));
    } catch (error) {
      throw awsFailure(error, `PutSecretValue ${secretId}`);
    }
  } else if (!hasStage(state, token, PENDING)) {
    await moveLabel(sm, secretId, PENDING, { to: token });
  }
  await setTags(sm, secretId, { [TAG_NEW]: token, [TAG_OLD]: oldVersion, [TAG_OVERLAP]: String(Math.round(options.overlapMs / 1000)) });
  await removeTags(sm, secretId, [TAG_OVERLAP_ENDS]);
  await emit({ step: "pending", version: token, detail: reused ? "reused this request's version (run again after a crash)" : "new 32-byte value put with AWSPENDING only" });

  // Step 2: sign and verify with the pending value before anything depends on it.
  const test = await testPending(sm, secretId, token);
  if (!test.passed) {
    await rollBack(sm, await requireState(sm, secretId), token);
    throw failure(`the new value failed its test (${test.detail}); it was rolled back, ${secretId} is unchanged`, { code: "jwt.test-failed" });
  }
  await emit({ step: "tested", version: token, detail: test.detail });

  // Step 3: compare-and-swap AWSCURRENT from the version read in step 0.
  const before = await requireState(sm, secretId);
  if (before.current !== oldVersion) {
    await rollBack(sm, before, token);
    throw concurrentError(secretId, oldVersion, before.current);
  }
  try {
    await sm.send(new UpdateSecretVersionStageCommand({ SecretId: secretId, VersionStage: CURRENT, MoveToVersionId: token, RemoveFromVersionId: oldVersion }));
  } catch (error) {
    if (awsErrorName(error) === "InvalidParameterException") {
      const after = await requireState(sm, secretId);
      if (after.current !== token) {
        await rollBack(sm, after, token).catch(() => undefined);
        throw concurrentError(secretId, oldVersion, after.current);
      }
    } else throw awsFailure(error, `UpdateSecretVersionStage ${secretId} AWSCURRENT`);
  }
  await emit({ step: "promoted", version: token, detail: `AWSCURRENT moved from ${oldVersion}, which is now AWSPREVIOUS` });

  const promoted = await requireState(sm, secretId);
  const done = await completePromotion(
    sm,
    promoted,
    { newVersion: token, oldVersion, overlapMs: options.overlapMs, overlapEnds: undefined },
    now,
    emit,
  );
  return {
    secret: state.name,
    arn: state.arn,
    oldVersion,
    newVersion: token,
    reused,
    recovered,
    overlapMs: options.overlapMs,
    overlapEnds: done.overlapEnds,
    previousRetired: done.previousRetired,
    test,
  };
}

/**
 * After AWSCURRENT moved: AWSPENDING off the new version; then either the overlap end recorded
 * (tag, read by `status` and `--finish`) or, with no overlap, AWSPREVIOUS taken from the old one.
 */
async function completePromotion(
  sm: SecretsManagerClient,
  state: SecretState,
  rotation: RotationTags,
  now: () => Date,
  emit: StepListener,
): Promise<{ overlapEnds: Date | undefined; previousRetired: boolean }> {
  const id = state.name;
  if (hasStage(state, rotation.newVersion, PENDING)) {
    await moveLabel(sm, id, PENDING, { from: rotation.newVersion });
    await emit({ step: "pending-removed", version: rotation.newVersion, detail: "AWSPENDING removed from the new AWSCURRENT version" });
  }
  if (rotation.overlapMs === 0) {
    if (hasStage(state, rotation.oldVersion, PREVIOUS)) {
      await moveLabel(sm, id, PREVIOUS, { from: rotation.oldVersion });
    }
    await removeTags(sm, id, ROTATION_TAGS);
    await emit({ step: "previous-removed", version: rotation.oldVersion, detail: "the old version lost AWSPREVIOUS at once: it no longer verifies" });
    return { overlapEnds: undefined, previousRetired: true };
  }
  if (rotation.overlapEnds) return { overlapEnds: rotation.overlapEnds, previousRetired: false };
  const ends = new Date(now().getTime() + rotation.overlapMs);
  await setTags(sm, id, { [TAG_OVERLAP_ENDS]: ends.toISOString() });
  await emit({ step: "overlap-recorded", version: rotation.oldVersion, detail: `the old version keeps AWSPREVIOUS until ${ends.toISOString()}`, overlapEnds: ends.toISOString() });
  return { overlapEnds: ends, previousRetired: false };
}

async function testPending(sm: SecretsManagerClient, secretId: string, token: string): Promise<KeyTest> {
  const read = async (input: { VersionId?: string; VersionStage: string }) => {
    try {
      const out = await sm.send(new GetSecretValueCommand({ SecretId: secretId, ...input }));
      if (out.SecretString !== undefined) registerSecret(out.SecretString);
      return out.SecretString;
    } catch (error) {
      throw awsFailure(error, `GetSecretValue ${secretId} ${input.VersionStage}`);
    }
  };
  const pending = await read({ VersionId: token, VersionStage: PENDING });
  const current = await read({ VersionStage: CURRENT });
  if (pending === undefined) return { passed: false, detail: "the pending version has no string value" };
  return testNewKey(pending, current);
}

/** Take AWSPENDING off an unpromoted version and forget the rotation tags that named it. */
async function rollBack(sm: SecretsManagerClient, state: SecretState, version: string): Promise<void> {
  if (hasStage(state, version, PENDING) && state.current !== version) await moveLabel(sm, state.name, PENDING, { from: version });
  if (state.rotation?.newVersion === version) await removeTags(sm, state.name, ROTATION_TAGS);
}

async function moveLabel(sm: SecretsManagerClient, secretId: string, stage: string, move: { from?: string; to?: string }): Promise<void> {
  try {
    await sm.send(
      new UpdateSecretVersionStageCommand({
        SecretId: secretId,
        VersionStage: stage,
        ...(move.from ? { RemoveFromVersionId: move.from } : {}),
        ...(move.to ? { MoveToVersionId: move.to } : {}),
      }),
    );
  } catch (error) {
    throw awsFailure(error, `UpdateSecretVersionStage ${secretId} ${stage}`);
  }
}

function concurrentError(secretId: string, expected: string, actual: string | undefined) {
  return failure(`${secretId} was rotated by someone else meanwhile: AWSCURRENT is on ${actual ?? "no version"}, not ${expected} as read before; stopped without promoting`, {
    code: "jwt.concurrent-rotation",
    hint: "Find out who rotated it (`dropkeys log show`, CloudTrail); this run's pending version was rolled back.",
  });
}

export function unfinishedError(state: SecretState, version: string) {
  return failure(`an earlier rotation of ${state.name} promoted version ${version} but did not finish (${describeLabels(state)})`, {
    code: "jwt.unfinished-rotation",
    hint: "Run `dropkeys rotate-jwt --finish`: it completes that rotation and starts its overlap; rotate again after it.",
  });
}

export function overlapRunningError(state: SecretState, ends: Date, now: Date) {
  return failure(
    `a rotation of ${state.name} is still in its overlap until ${formatLocal(ends)} (${formatDuration(ends.getTime() - now.getTime())} left): Secrets Manager keeps one AWSPREVIOUS, so rotating now would cut off tokens that are still valid`,
    {
      code: "jwt.overlap-running",
      hint: "Wait, then `dropkeys rotate-jwt --finish` and rotate again; only `--emergency` rotates inside the overlap.",
      details: { overlapEnds: ends.toISOString() },
    },
  );
}

// ---------------------------------------------------------------- --finish

export type FinishPlan =
  | { action: "nothing"; message: string }
  | { action: "wait"; ends: Date; leftMs: number; newVersion: string; oldVersion: string }
  | { action: "roll-back"; version: string }
  | { action: "complete"; version: string; rotation: RotationTags }
  | { action: "retire"; newVersion: string; oldVersion: string; ends: Date }
  | { action: "clean-stray"; version: string };

/** What `--finish` would do now; reads only. */
export function planFinish(state: SecretState, now: Date): FinishPlan {
  const phase = phaseOf(state);
  switch (phase.kind) {
    case "pending":
      return { action: "roll-back", version: phase.version };
    case "half-promoted":
    case "promoted":
      return { action: "complete", version: phase.version, rotation: phase.rotation };
    case "overlap":
      if (phase.ends > now) {
        return { action: "wait", ends: phase.ends, leftMs: phase.ends.getTime() - now.getTime(), newVersion: phase.version, oldVersion: phase.rotation.oldVersion };
      }
      return { action: "retire", newVersion: phase.version, oldVersion: phase.rotation.oldVersion, ends: phase.ends };
    case "idle": {
      const stray = state.pending.find((id) => id === state.current);
      if (stray) return { action: "clean-stray", version: stray };
      // Tags naming a version that never became current: a crash between tagging and promotion.
      return { action: "nothing", message: `no rotation of ${state.name} is in progress` };
    }
  }
}

export interface FinishResult {
  plan: FinishPlan;
  /** After `complete`: when the overlap now ends (or undefined when retired at once). */
  overlapEnds?: Date | undefined;
  retired?: string | undefined;
  verification?: JournalVerification | undefined;
}

export async function applyFinish(sm: SecretsManagerClient, secretId: string, plan: FinishPlan, onStep?: StepListener, now: () => Date = () => new Date()): Promise<FinishResult> {
  const emit = async (step: RotationStep) => onStep?.(step);
  const state = await requireState(sm, secretId);
  switch (plan.action) {
    case "nothing":
    case "wait":
      return { plan };
    case "roll-back":
      await rollBack(sm, state, plan.version);
      await emit({ step: "rolled-back", version: plan.version, detail: "an interrupted rotation's unpromoted version lost AWSPENDING" });
      return { plan, verification: await verifyLabels(sm, secretId, { current: state.current, pendingAbsent: true }) };
    case "clean-stray":
      await moveLabel(sm, secretId, PENDING, { from: plan.version });
      await emit({ step: "recovered", version: plan.version, detail: "stray AWSPENDING removed from AWSCURRENT" });
      return { plan, verification: await verifyLabels(sm, secretId, { current: state.current, pendingAbsent: true }) };
    case "complete": {
      const done = await completePromotion(sm, state, plan.rotation, now, emit);
      return {
        plan,
        overlapEnds: done.overlapEnds,
        retired: done.previousRetired ? plan.rotation.oldVersion : undefined,
        verification: await verifyLabels(sm, secretId, {
          current: plan.version,
          pendingAbsent: true,
          ...(done.previousRetired ? { retired: plan.rotation.oldVersion } : { previous: plan.rotation.oldVersion }),
        }),
      };
    }
    case "retire": {
      if (hasStage(state, plan.oldVersion, PREVIOUS)) await moveLabel(sm, secretId, PREVIOUS, { from: plan.oldVersion });
      await removeTags(sm, secretId, ROTATION_TAGS);
      await emit({ step: "previous-removed", version: plan.oldVersion, detail: "overlap ended: the old version lost AWSPREVIOUS" });
      return { plan, retired: plan.oldVersion, verification: await verifyLabels(sm, secretId, { current: plan.newVersion, retired: plan.oldVersion, pendingAbsent: true }) };
    }
  }
}

/** Read the labels back with ListSecretVersionIds and check what a step promised. */
export async function verifyLabels(
  sm: SecretsManagerClient,
  secretId: string,
  expect: { current?: string | undefined; previous?: string | undefined; retired?: string | undefined; pendingAbsent?: boolean },
): Promise<JournalVerification> {
  const state = await readState(sm, secretId);
  const problems: string[] = [];
  if (!state) problems.push("the secret is gone");
  else {
    if (!state.current) problems.push("no version holds AWSCURRENT");
    if (expect.current && state.current !== expect.current) problems.push(`AWSCURRENT is on ${state.current}, expected ${expect.current}`);
    if (expect.previous && !hasStage(state, expect.previous, PREVIOUS)) problems.push(`${expect.previous} does not hold AWSPREVIOUS`);
    if (expect.retired && (hasStage(state, expect.retired, PREVIOUS) || hasStage(state, expect.retired, CURRENT))) problems.push(`${expect.retired} still verifies (it holds a label)`);
    if (expect.pendingAbsent && state.pending.length > 0) problems.push(`AWSPENDING is still on ${state.pending.join(", ")}`);
  }
  return {
    method: "ListSecretVersionIds: staging labels read back",
    result: problems.length ? "failed" : "passed",
    detail: problems.length ? problems.join("; ") : state ? describeLabels(state) : undefined,
    checkedAt: new Date().toISOString(),
  };
}
