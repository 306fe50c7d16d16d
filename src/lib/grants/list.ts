// `dropkeys grants [KEY]`: every grant on the inventory's KMS keys, marking those dropkeys did not
// make (foreign: no journal entry names them) and those past the expiry the journal records.
import type { GlobalOptions } from "../cli-options.js";
import { createContext, type Context } from "../context.js";
import { resolveKmsEntry } from "../keys/kms.js";
import { table } from "../output.js";
import { awsFailure, describeKmsKey } from "../targets.js";
import { regionOf } from "../policy/load.js";
import type { KmsKeyEntry } from "../policy/schema.js";
import { formatLocal } from "../time.js";
import { isExpired, journalGrants } from "./journal.js";
import { isBound, listAllGrants } from "./kms.js";

export interface ListedGrant {
  grantId: string;
  name?: string | undefined;
  grantee: string;
  operations: string[];
  encryptionContext?: Record<string, string> | undefined;
  /** Not made by dropkeys (no journal entry names it). */
  foreign: boolean;
  /** Past the expiry the journal records (foreign grants have none). */
  expired: boolean;
  expiresAt?: string | undefined;
  /** The grantee is none of the key's role-binding principals. */
  outsideRoleBindings: boolean;
}

export interface KeyGrants {
  key: string;
  region: string;
  keyId?: string | undefined;
  missing?: boolean;
  grants: ListedGrant[];
}

export async function listGrants(ctx: Context, at: Date, key?: string): Promise<KeyGrants[]> {
  const entries = key ? [resolveKmsEntry(ctx, key).entry] : ctx.policy.inventory.filter((e): e is KmsKeyEntry => e.kind === "kms-key");
  const known = journalGrants(ctx.journal().entries());
  return Promise.all(
    entries.map(async (entry): Promise<KeyGrants> => {
      const region = regionOf(ctx.policy, entry);
      const found = await describeKmsKey(ctx, { entry, name: entry.name, region });
      if (!found.key?.KeyId) return { key: entry.name, region, missing: true, grants: [] };
      const keyId = found.key.KeyId;
      let grants;
      try {
        grants = await listAllGrants(ctx.aws.kms(region), keyId);
      } catch (error) {
        throw awsFailure(error, `ListGrants on ${entry.name} (${keyId}) in ${region}`);
      }
      return {
        key: entry.name,
        region,
        keyId,
        grants: grants.map((g) => {
          const ours = known.get(g.GrantId ?? "");
          return {
            grantId: g.GrantId ?? "",
            name: g.Name,
            grantee: g.GranteePrincipal ?? "",
            operations: [...(g.Operations ?? [])].sort(),
            ...(g.Constraints?.EncryptionContextSubset ? { encryptionContext: g.Constraints.EncryptionContextSubset } : {}),
            foreign: !ours,
            expired: ours ? isExpired(ours, at) : false,
            expiresAt: ours?.expiresAt,
            outsideRoleBindings: !isBound(ctx.policy, entry, g.GranteePrincipal ?? ""),
          };
        }),
      };
    }),
  );
}

export async function runGrantsList(options: GlobalOptions, key: string | undefined): Promise<void> {
  const ctx = await createContext(options);
  const at = new Date();
  const keys = await listGrants(ctx, at, key);
  const c = ctx.out.color;
  ctx.out.result({ at: at.toISOString(), keys }, () => {
    const rows = keys.flatMap((k) =>
      k.missing
        ? [[k.key, c.dim("(no key in " + k.region + ")"), "", "", "", ""]]
        : k.grants.map((g) => [
            k.key,
            g.grantId,
            g.grantee,
            g.operations.join(",") + (g.encryptionContext ? ` [${Object.entries(g.encryptionContext).map(([a, b]) => `${a}=${b}`).join(",")}]` : ""),
            g.expiresAt ? formatLocal(new Date(g.expiresAt)) : "-",
            [g.foreign ? c.yellow("FOREIGN (not made by dropkeys)") : "", g.expired ? c.red("EXPIRED") : "", g.outsideRoleBindings ? c.yellow("outside role bindings") : ""].filter(Boolean).join(", "),
          ]),
    );
    const total = keys.reduce((n, k) => n + k.grants.length, 0);
    if (!total) return `No grants on ${key ?? "the inventory's KMS keys"} (${formatLocal(at)}).`;
    const expired = keys.flatMap((k) => k.grants).filter((g) => g.expired).length;
    return [
      table(["KEY", "GRANT", "GRANTEE", "OPERATIONS", "EXPIRES", "NOTE"], rows),
      ...(expired ? ["", c.red(`${expired} grant${expired === 1 ? " is" : "s are"} past expiry: dropkeys grant --retire-expired`)] : []),
    ].join("\n");
  });
}
