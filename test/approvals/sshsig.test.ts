// The SSHSIG parser and verifier on their own, with signatures made by ssh-keygen: both hash
// algorithms OpenSSH uses, and each malformed field refused with its own reason.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { armor, parseArmored, parseBlob, SshSigFormatError, verifySshSig } from "../../src/lib/approvals/sshsig.js";
import { makeSshApprover } from "../support/approvers.js";

const dir = mkdtempSync(path.join(tmpdir(), "dropkeys-sshsig-"));
const who = makeSshApprover(dir, "alice", ["dpo"]);
const message = Buffer.from('{"id":"r1"}\n');
const file = path.join(dir, "request.json");
writeFileSync(file, message);

function sign(...options: string[]): string {
  rmSync(`${file}.sig`, { force: true });
  execFileSync("ssh-keygen", ["-q", "-Y", "sign", "-n", "dropkeys-approval", ...options, "-f", who.keyFile, file]);
  return readFileSync(`${file}.sig`, "utf8");
}

describe("SSHSIG", () => {
  it("verifies ssh-keygen signatures with sha512 (default) and sha256", () => {
    for (const [options, hash] of [
      [[], "sha512"],
      [["-O", "hashalg=sha256"], "sha256"],
    ] as const) {
      const sig = parseArmored(sign(...options));
      expect(sig.hashAlgorithm).toBe(hash);
      expect(verifySshSig(sig, message)).toEqual({ ok: true });
      expect(verifySshSig(sig, Buffer.from('{"id":"r2"}\n'))).toMatchObject({ ok: false, reason: "signature" });
    }
  });

  it("refuses a wrong magic, an unknown version, trailing bytes and an unknown hash algorithm", () => {
    const blob = parseArmored(sign()).blob;
    const withByte = (at: number, value: number) => {
      const copy = Buffer.from(blob);
      copy[at] = value;
      return copy;
    };
    expect(() => parseBlob(withByte(0, 0x54))).toThrow(new SshSigFormatError('it does not start with "SSHSIG"'));
    expect(() => parseBlob(withByte(9, 2))).toThrow(new SshSigFormatError("unsupported SSHSIG version 2"));
    expect(() => parseBlob(Buffer.concat([blob, Buffer.from([0])]))).toThrow(new SshSigFormatError("it has trailing bytes"));
    const renamed = parseArmored(armor(blob));
    expect(verifySshSig({ ...renamed, hashAlgorithm: "md5" }, message)).toMatchObject({ ok: false, reason: "hash" });
    expect(verifySshSig({ ...renamed, namespace: "git" }, message)).toMatchObject({ ok: false, reason: "namespace" });
  });
});
