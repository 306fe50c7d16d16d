// The JWT secret's rotation state as Secrets Manager holds it: the versions and their staging
// labels, plus dropkeys' own tags. The tags make every step of a rotation recoverable after a
// crash: they are written before the label moves they describe, so the next run can tell an
// unpromoted version, a half-promoted one and a finished promotion apart.
import {
  DescribeSecretCommand,
  ListSecretVersionIdsCommand,
  TagResourceCommand,
  UntagResourceCommand,
  type SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { awsErrorName } from "../errors.js";
import { awsFailure } from "../targets.js";

export const CURRENT = "AWSCURRENT";
export const PENDING = "AWSPENDING";
export const PREVIOUS = "AWSPREVIOUS";

/** Read by `dropkeys status` ("rotation in progress, overlap ends ..."). */
export const TAG_OVERLAP_ENDS = "dropkeys:overlap-ends";
/** The version being rotated to / from, and the overlap it gets (seconds); written before promotion. */
export const TAG_NEW = "dropkeys:rotation-new";
export const TAG_OLD = "dropkeys:rotation-old";
export const TAG_OVERLAP = "dropkeys:rotation-overlap-seconds";
export const ROTATION_TAGS = [TAG_NEW, TAG_OLD, TAG_OVERLAP, TAG_OVERLAP_ENDS];

export interface SecretVersion {
  id: string;
  stages: string[];
}

export interface SecretState {
  name: string;
  arn: string;
  versions: SecretVersion[];
  /** The version holding AWSCURRENT (undefined only for a secret without a value). */
  current: string | undefined;
  previous: string[];
  pending: string[];
  tags: Record<string, string>;
  rotation: RotationTags | undefined;
}

export interface RotationTags {
  newVersion: string;
  oldVersion: string;
  overlapMs: number;
  overlapEnds: Date | undefined;
}

/** What an earlier rotation left behind, as the next run sees it. */
export type Phase =
  /** No rotation underway. */
  | { kind: "idle" }
  /** A version was put with AWSPENDING but never promoted (crash after step 1 or 2). */
  | { kind: "pending"; version: string }
  /** AWSCURRENT moved, AWSPENDING still on it (crash inside step 3). */
  | { kind: "half-promoted"; version: string; rotation: RotationTags }
  /** Promoted, but the overlap end was never recorded (crash before step 4). */
  | { kind: "promoted"; version: string; rotation: RotationTags }
  /** Promoted and recorded: the old version keeps AWSPREVIOUS until the overlap ends. */
  | { kind: "overlap"; version: string; rotation: RotationTags; ends: Date };

/** The secret's versions and tags; undefined when the secret does not exist. */
export async function readState(sm: SecretsManagerClient, secretId: string): Promise<SecretState | undefined> {
  let described;
  try {
    described = await sm.send(new DescribeSecretCommand({ SecretId: secretId }));
  } catch (error) {
    if (awsErrorName(error) === "ResourceNotFoundException") return undefined;
    throw awsFailure(error, `DescribeSecret ${secretId}`);
  }
  let listed;
  try {
    listed = await sm.send(new ListSecretVersionIdsCommand({ SecretId: secretId, IncludeDeprecated: true }));
  } catch (error) {
    throw awsFailure(error, `ListSecretVersionIds ${secretId}`);
  }
  const versions = (listed.Versions ?? []).map((v) => ({ id: v.VersionId!, stages: [...(v.VersionStages ?? [])] }));
  const tags: Record<string, string> = {};
  for (const tag of described.Tags ?? []) if (tag.Key) tags[tag.Key] = tag.Value ?? "";
  const withStage = (stage: string) => versions.filter((v) => v.stages.includes(stage)).map((v) => v.id);
  return {
    name: described.Name ?? secretId,
    arn: described.ARN ?? secretId,
    versions,
    current: withStage(CURRENT)[0],
    previous: withStage(PREVIOUS),
    pending: withStage(PENDING),
    tags,
    rotation: rotationTags(tags),
  };
}

function rotationTags(tags: Record<string, string>): RotationTags | undefined {
  const newVersion = tags[TAG_NEW];
  const oldVersion = tags[TAG_OLD];
  if (!newVersion || !oldVersion) return undefined;
  const seconds = Number(tags[TAG_OVERLAP]);
  const ends = tags[TAG_OVERLAP_ENDS] ? new Date(tags[TAG_OVERLAP_ENDS]) : undefined;
  return {
    newVersion,
    oldVersion,
    overlapMs: Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : 0,
    overlapEnds: ends && !Number.isNaN(ends.getTime()) ? ends : undefined,
  };
}

export function phaseOf(state: SecretState): Phase {
  const r = state.rotation;
  if (r && state.current === r.newVersion) {
    if (state.pending.includes(r.newVersion)) return { kind: "half-promoted", version: r.newVersion, rotation: r };
    if (!r.overlapEnds) return { kind: "promoted", version: r.newVersion, rotation: r };
    return { kind: "overlap", version: r.newVersion, rotation: r, ends: r.overlapEnds };
  }
  const unpromoted = state.pending.find((id) => id !== state.current);
  if (unpromoted) return { kind: "pending", version: unpromoted };
  return { kind: "idle" };
}

export function hasStage(state: SecretState, version: string, stage: string): boolean {
  return state.versions.some((v) => v.id === version && v.stages.includes(stage));
}

export async function setTags(sm: SecretsManagerClient, secretId: string, tags: Record<string, string>): Promise<void> {
  try {
    await sm.send(new TagResourceCommand({ SecretId: secretId, Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }));
  } catch (error) {
    throw awsFailure(error, `TagResource ${secretId}`);
  }
}

export async function removeTags(sm: SecretsManagerClient, secretId: string, keys: string[]): Promise<void> {
  try {
    await sm.send(new UntagResourceCommand({ SecretId: secretId, TagKeys: keys }));
  } catch (error) {
    throw awsFailure(error, `UntagResource ${secretId}`);
  }
}

/** Plain words for people: "a1b2c3d4 (AWSCURRENT), 9f8e7d6c (AWSPREVIOUS)". */
export function describeLabels(state: SecretState): string {
  const labelled = state.versions.filter((v) => v.stages.length > 0);
  if (labelled.length === 0) return "no labelled versions";
  return labelled.map((v) => `${v.id} (${v.stages.join(", ")})`).join(", ");
}
