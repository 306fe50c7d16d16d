// KMS approval at a terminal: the approver's profile assumes a role with MFA, and the SDK's MFA
// prompt is answered through dropkeys' own prompt (moto's STS issues the role credentials; it
// does not check the code, AWS does). The signature is then verified as any KMS approval.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { tmpdir } from "node:os";
import { createPublicKey } from "node:crypto";
import { CreateKeyCommand, GetPublicKeyCommand } from "@aws-sdk/client-kms";
import { describe, expect, it } from "vitest";
import { kmsClient, motoUrl } from "../support/aws.js";
import { runCli } from "../support/cli.js";
import { writePolicy } from "../support/policy.js";
import { inTerminal } from "./terminal.js";

describe("KMS approval with MFA at the terminal", () => {
  it("asks for the MFA code through a prompt and signs with the approver's key", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "dropkeys-approvals-mfa-"));
    const key = (await kmsClient().send(new CreateKeyCommand({ KeySpec: "ECC_NIST_P256", KeyUsage: "SIGN_VERIFY" }))).KeyMetadata!.Arn!;
    const spki = Buffer.from((await kmsClient().send(new GetPublicKeyCommand({ KeyId: key }))).PublicKey!);
    const pem = createPublicKey({ key: spki, format: "der", type: "spki" }).export({ format: "pem", type: "spki" }) as string;
    writeFileSync(path.join(dir, "credentials"), "[alem-base]\naws_access_key_id = test\naws_secret_access_key = test\n");
    writeFileSync(
      path.join(dir, "config"),
      "[profile alem-base]\nregion = eu-north-1\n\n[profile alem-mfa]\nregion = eu-north-1\nsource_profile = alem-base\n" +
        "role_arn = arn:aws:iam::123456789012:role/drop-approver-alem\nmfa_serial = arn:aws:iam::123456789012:mfa/alem\n",
    );
    const policyFile = writePolicy(dir, {
      inventory: [{ name: "k1", kind: "kms-key", rotation: "annual" }],
      approvers: [
        { name: "alem", email: "ciso@drop.example", roles: ["CISO"], kms: key, kmsPublicKey: pem },
      ],
      approvals: { registry: { roles: ["CISO", "*"] } },
    });
    const env = {
      AWS_SHARED_CREDENTIALS_FILE: path.join(dir, "credentials"),
      AWS_CONFIG_FILE: path.join(dir, "config"),
      AWS_ENDPOINT_URL_STS: motoUrl(),
      AWS_ACCESS_KEY_ID: "test",
      AWS_SECRET_ACCESS_KEY: "test",
    };
    const g = ["--policy", policyFile, "--journal", path.join(dir, "legal")];
    const req = path.join(dir, "seal.json");
    expect((await runCli(["approvers", "seal", "--request-out", req, ...g], { env })).code).toBe(0);
    const out = path.join(dir, "alem.approval");
    const t = inTerminal(["approve", req, "--as", "alem", "--kms-profile", "alem-mfa", "--out", out, ...g], env);
    try {
      await t.waitFor("MFA code for arn:aws:iam::123456789012:mfa/alem");
      t.type("123456\r");
      expect(await t.exit, t.output).toBe(0);
    } finally {
      t.kill();
    }
    expect(t.output).toContain("Approved request");
    expect(JSON.parse(readFileSync(out, "utf8"))).toMatchObject({ approver: "alem", keyArn: key, messageType: "RAW" });
  });
});
