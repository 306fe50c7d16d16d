// SSHSIG (OpenSSH's PROTOCOL.sshsig): parse the armored signature, check magic, version,
// namespace and hash algorithm, and verify the Ed25519 signature with node:crypto. Signing
// goes through `ssh-keygen -Y sign`: it handles encrypted key files and ssh-agent for us.
import { spawnSync } from "node:child_process";
import { createHash, createPublicKey, verify, type KeyObject } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { approvalError, DropkeysError, failure } from "../errors.js";

export const NAMESPACE = "dropkeys-approval";
const MAGIC = Buffer.from("SSHSIG");
const BEGIN = "-----BEGIN SSH SIGNATURE-----";
const END = "-----END SSH SIGNATURE-----";
const ED25519 = "ssh-ed25519";

export interface SshSignature {
  /** The raw SSHSIG blob (what the armor encodes). */
  blob: Buffer;
  publicKey: Buffer;
  namespace: string;
  hashAlgorithm: string;
  signatureAlgorithm: string;
  signature: Buffer;
}

/** A malformed signature file; `why` says what is wrong. */
export class SshSigFormatError extends Error {}

/** SSH wire "string"s, read in order. */
class Reader {
  private offset = 0;
  constructor(private readonly buf: Buffer) {}
  bytes(n: number): Buffer {
    if (this.offset + n > this.buf.length) throw new SshSigFormatError("it is cut off");
    const out = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }
  uint32(): number {
    return this.bytes(4).readUInt32BE(0);
  }
  string(): Buffer {
    return this.bytes(this.uint32());
  }
  get done(): boolean {
    return this.offset === this.buf.length;
  }
}

function sshString(data: Buffer | string): Buffer {
  const body = typeof data === "string" ? Buffer.from(data) : data;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length, 0);
  return Buffer.concat([len, body]);
}

export function isArmoredSshSig(text: string): boolean {
  return text.trimStart().startsWith(BEGIN);
}

export function parseArmored(text: string): SshSignature {
  const start = text.indexOf(BEGIN);
  const end = text.indexOf(END);
  if (start < 0) throw new SshSigFormatError(`no "${BEGIN}" line`);
  if (end < start) throw new SshSigFormatError(`no "${END}" line (cut off?)`);
  const body = text.slice(start + BEGIN.length, end).replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) throw new SshSigFormatError("the armor is not base64");
  return parseBlob(Buffer.from(body, "base64"));
}

export function parseBlob(blob: Buffer): SshSignature {
  const r = new Reader(blob);
  if (!r.bytes(MAGIC.length).equals(MAGIC)) throw new SshSigFormatError('it does not start with "SSHSIG"');
  const version = r.uint32();
  if (version !== 1) throw new SshSigFormatError(`unsupported SSHSIG version ${version}`);
  const publicKey = Buffer.from(r.string());
  const namespace = r.string().toString("utf8");
  r.string(); // reserved
  const hashAlgorithm = r.string().toString("utf8");
  const sig = new Reader(r.string());
  if (!r.done) throw new SshSigFormatError("it has trailing bytes");
  const signatureAlgorithm = sig.string().toString("utf8");
  const signature = Buffer.from(sig.string());
  return { blob: Buffer.from(blob), publicKey, namespace, hashAlgorithm, signatureAlgorithm, signature };
}

export function armor(blob: Buffer): string {
  const lines = blob.toString("base64").match(/.{1,70}/g) ?? [];
  return [BEGIN, ...lines, END].join("\n") + "\n";
}

/** The Ed25519 key in an SSH public key blob, or undefined when it is another key type. */
export function ed25519Raw(publicKeyBlob: Buffer): Buffer | undefined {
  try {
    const r = new Reader(publicKeyBlob);
    if (r.string().toString() !== ED25519) return undefined;
    const key = r.string();
    return key.length === 32 && r.done ? Buffer.from(key) : undefined;
  } catch {
    return undefined;
  }
}

/** The blob of an `ssh-ed25519 AAAA... comment` line. */
export function publicKeyBlob(line: string): Buffer {
  const [type, b64] = line.trim().split(/\s+/);
  if (type !== ED25519 || !b64) throw new SshSigFormatError("not an ssh-ed25519 public key line");
  return Buffer.from(b64, "base64");
}

/** ssh-keygen's fingerprint form: SHA256:<unpadded base64>. */
export function fingerprint(publicKeyBlob: Buffer): string {
  return "SHA256:" + createHash("sha256").update(publicKeyBlob).digest("base64").replace(/=+$/, "");
}

function ed25519KeyObject(raw: Buffer): KeyObject {
  return createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: raw.toString("base64url") }, format: "jwk" });
}

export type SshVerifyResult = { ok: true } | { ok: false; reason: "namespace" | "algorithm" | "hash" | "key-type" | "signature"; detail: string };

/** Verify `sig` over `message` under our namespace. The caller has matched sig.publicKey to an approver. */
export function verifySshSig(sig: SshSignature, message: Buffer): SshVerifyResult {
  if (sig.namespace !== NAMESPACE) {
    return { ok: false, reason: "namespace", detail: `it was made for namespace "${sig.namespace}", not "${NAMESPACE}" (sign with -n ${NAMESPACE})` };
  }
  if (sig.hashAlgorithm !== "sha512" && sig.hashAlgorithm !== "sha256") {
    return { ok: false, reason: "hash", detail: `unsupported hash algorithm "${sig.hashAlgorithm}"` };
  }
  const raw = ed25519Raw(sig.publicKey);
  if (!raw) return { ok: false, reason: "key-type", detail: "the signing key is not Ed25519" };
  if (sig.signatureAlgorithm !== ED25519 || sig.signature.length !== 64) {
    return { ok: false, reason: "algorithm", detail: `the signature is not a well-formed Ed25519 signature (${sig.signatureAlgorithm})` };
  }
  const digest = createHash(sig.hashAlgorithm).update(message).digest();
  const signed = Buffer.concat([MAGIC, sshString(sig.namespace), sshString(""), sshString(sig.hashAlgorithm), sshString(digest)]);
  if (!verify(null, signed, ed25519KeyObject(raw), sig.signature)) {
    return { ok: false, reason: "signature", detail: "the signature does not verify over this request" };
  }
  return { ok: true };
}

export interface SshSignOptions {
  /** A private key file, or a public key file whose private half is in ssh-agent. */
  keyFile: string;
  /** Let ssh-keygen ask for a passphrase on the terminal (stdin inherited). */
  terminal: boolean;
}

/** Sign `message` with `ssh-keygen -Y sign -n dropkeys-approval`; returns the armored signature. */
export function sshKeygenSign(message: Buffer, options: SshSignOptions): string {
  const dir = mkdtempSync(path.join(tmpdir(), "dropkeys-sign-"));
  try {
    const file = path.join(dir, "request");
    writeFileSync(file, message);
    const run = spawnSync("ssh-keygen", ["-q", "-Y", "sign", "-n", NAMESPACE, "-f", options.keyFile, file], {
      stdio: [options.terminal ? "inherit" : "ignore", "pipe", options.terminal ? "inherit" : "pipe"],
      encoding: "utf8",
    });
    if (run.error) {
      throw failure(`cannot run ssh-keygen: ${(run.error as NodeJS.ErrnoException).code ?? run.error.message}`, {
        code: "approval.ssh-keygen",
        hint: "Install OpenSSH's ssh-keygen (8.2 or later), or approve with --kms-profile.",
      });
    }
    if (run.signal === "SIGINT") throw new DropkeysError("interrupted", "interrupted: nothing was signed");
    if (run.status !== 0) {
      const why = (run.stderr ?? "").trim().split("\n").pop() ?? "";
      throw approvalError(`ssh-keygen could not sign with ${options.keyFile}${why ? `: ${why}` : ""}`, {
        code: "approval.sign-failed",
        hint: options.terminal
          ? "Check the key file and its passphrase, or load the key into ssh-agent and pass its .pub file."
          : "An encrypted key needs a terminal for its passphrase: load it into ssh-agent (ssh-add) and pass the .pub file, or run on a terminal.",
      });
    }
    return readFileSync(`${file}.sig`, "utf8");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
