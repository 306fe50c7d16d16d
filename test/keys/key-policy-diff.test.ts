// The key-policy diff on its own: no false drift from how AWS spells the same policy, and a
// readable account of real differences.
import { describe, expect, it } from "vitest";
import { buildKeyPolicy, diffKeyPolicy } from "../../src/lib/keys/key-policy.js";
import { parsePolicy } from "../../src/lib/policy/load.js";
import type { KmsKeyEntry } from "../../src/lib/policy/schema.js";

const policy = parsePolicy(`
version: 1
roles:
  drop-key-admin: { principals: ["arn:aws:iam::111122223333:role/admin"] }
  drop-app-runner: { principals: ["arn:aws:iam::111122223333:role/runner", "arn:aws:iam::111122223333:role/batch"] }
inventory:
  - { name: k, kind: kms-key, rotation: annual, decryptRoles: [drop-app-runner] }
`);
const entry = policy.inventory[0] as KmsKeyEntry;
const expected = buildKeyPolicy(policy, entry, "111122223333").document;

describe("diffKeyPolicy", () => {
  it("sees no drift when AWS spells the same policy differently (principal string vs list, order of actions and statements)", () => {
    const respelled = JSON.parse(JSON.stringify(expected)) as { Statement: { Principal: { AWS: string | string[] }; Action: string[] }[] };
    for (const st of respelled.Statement) {
      st.Principal.AWS = Array.isArray(st.Principal.AWS) ? [...st.Principal.AWS].reverse() : [st.Principal.AWS];
      st.Action = [...st.Action].reverse();
    }
    respelled.Statement.reverse();
    expect(diffKeyPolicy(respelled, expected).lines).toEqual([]);
  });

  it("names added, removed and changed statements, principals and conditions", () => {
    const changed = JSON.parse(JSON.stringify(expected)) as { Statement: Record<string, unknown>[] };
    const decrypt = changed.Statement.find((s) => s.Sid === "DecryptByPurpose")!;
    decrypt.Principal = { AWS: ["arn:aws:iam::111122223333:role/runner", "arn:aws:iam::999999999999:root"] };
    changed.Statement = changed.Statement.filter((s) => s.Sid !== "KeyAdministrators");
    const canary = changed.Statement.find((s) => s.Sid === "CanaryOnly")!;
    canary.Condition = {};
    changed.Statement.push({ Effect: "Allow", Principal: "*", Action: "kms:*", Resource: "*" });
    const diff = diffKeyPolicy(changed, expected);
    expect(diff.added).toEqual(["KeyAdministrators"]);
    expect(diff.removed).toEqual([`statement ${changed.Statement.length}`]);
    expect(diff.changed.map((c) => c.sid).sort()).toEqual(["CanaryOnly", "DecryptByPurpose"]);
    expect(diff.lines).toContain("~ statement DecryptByPurpose: + principal arn:aws:iam::111122223333:role/batch; - principal arn:aws:iam::999999999999:root");
    expect(diff.lines).toContain(`- statement statement ${changed.Statement.length}: Allow * to kms:*`);
    expect(diff.lines.find((l) => l.startsWith("~ statement CanaryOnly"))).toContain("condition/resource");
  });

  it("an empty or missing policy document: every statement is to be added", () => {
    expect(diffKeyPolicy({}, expected).added).toHaveLength(expected.Statement.length);
    expect(diffKeyPolicy(undefined, expected).removed).toEqual([]);
  });
});
