// Certificates in `status`: a local TLS server (node:tls) presenting certificates made in the test
// (expired, due in 10 days, fine, wrong host), PEM files, ACM (moto), and the failures a TLS check
// meets (refused, no handshake, a server that does not speak TLS). Real sockets, real clock.
import { ImportCertificateCommand, ACMClient } from "@aws-sdk/client-acm";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer as createTcpServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { createServer as createTlsServer } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliAwsEnv, motoUrl } from "../support/aws.js";
import { runCli, type CliResult } from "../support/cli.js";
import { freePort } from "../support/net.js";
import { emulatorEndpoints, writePolicy } from "../support/policy.js";
import { issue, makeCa, type Issued } from "./openssl.js";

const DAY = 86_400_000;
const dir = mkdtempSync(path.join(tmpdir(), "dropkeys-certs-"));
const servers: Server[] = [];
const sockets = new Set<{ destroy(): void }>();
let certs: Record<"fine" | "due" | "expired" | "wrongHost" | "provider" | "rsa", Issued>;
const ports: Record<string, number> = {};

interface CertJson {
  name: string;
  health: string;
  daysLeft?: number;
  leadTimeDays: number;
  error?: string;
  facts?: { subject: string; issuer: string; notAfter: string; keyType: string; warnings: string[] };
}

function listen(server: Server): Promise<number> {
  servers.push(server);
  server.on("connection", (socket) => sockets.add(socket));
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port)));
}

function tlsServer(c: Issued): Promise<number> {
  return listen(createTlsServer({ key: c.key, cert: c.cert }, (socket) => socket.end()));
}

async function status(inventory: Record<string, unknown>[], extra: Record<string, unknown> = {}): Promise<{ r: CliResult; certs: CertJson[]; external: string[] }> {
  const file = writePolicy(dir, { inventory, endpoints: { ...emulatorEndpoints(), acm: motoUrl() }, certificates: { timeout: "1s" }, ...extra }, `policy-${Object.keys(ports).length}-${Math.random().toString(36).slice(2)}.yaml`);
  const r = await runCli(["status", "--json", "--policy", file, "--journal", path.join(dir, "legal")], { env: cliAwsEnv });
  const doc = JSON.parse(r.stdout || "{}") as { certificates?: CertJson[]; external?: string[] };
  return { r, certs: doc.certificates ?? [], external: doc.external ?? [] };
}

const cert = (name: string, check: string, extra: Record<string, unknown> = {}) => ({ name, kind: "certificate", rotation: 90, check, ...extra });

beforeAll(async () => {
  const ca = makeCa(dir);
  const now = Date.now();
  const from = new Date(now - 30 * DAY);
  const local = ["localhost", "127.0.0.1"];
  certs = {
    fine: issue(ca, "fine", { names: local, notBefore: from, notAfter: new Date(now + 80 * DAY) }),
    due: issue(ca, "due", { names: local, notBefore: from, notAfter: new Date(now + 10 * DAY + 3_600_000) }),
    expired: issue(ca, "expired", { names: local, notBefore: from, notAfter: new Date(now - DAY) }),
    wrongHost: issue(ca, "wrong-host", { names: ["other.example"], notBefore: from, notAfter: new Date(now + 80 * DAY) }),
    provider: issue(ca, "provider", { names: ["bankid.example"], notBefore: from, notAfter: new Date(now + 30 * DAY + 3_600_000), rsa: true }),
    rsa: issue(ca, "rsa", { names: local, notBefore: from, notAfter: new Date(now + 80 * DAY), rsa: true }),
  };
  for (const name of ["fine", "due", "expired", "wrongHost"] as const) ports[name] = await tlsServer(certs[name]);
  // Accepts TCP and never answers: the check must give up at its timeout.
  ports.silent = await listen(createTcpServer(() => undefined));
  // Speaks something else than TLS and hangs up.
  ports.notTls = await listen(createTcpServer((socket) => socket.end("HTTP/1.1 400 Bad Request\r\n\r\n")));
  ports.closed = await freePort();
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

describe("certificates over TLS", () => {
  it("reads expiry, subject, issuer and key type of an untrusted certificate; a fine one is ok (exit 0), the untrusted chain a warning", async () => {
    const { r, certs: [fine], external } = await status([cert("TLS-EXT", `tls://127.0.0.1:${ports.fine}`, { sni: "localhost" }), { name: "DEK", kind: "data-key", rotation: "on-compromise" }]);
    expect(r.code, r.stderr).toBe(0);
    expect(fine).toMatchObject({ name: "TLS-EXT", health: "ok", leadTimeDays: 14, facts: { subject: "CN=localhost", issuer: "CN=dropkeys test CA", keyType: "ECDSA P-256" } });
    expect(fine!.daysLeft).toBeGreaterThanOrEqual(79);
    expect(fine!.facts!.warnings.join(" ")).toContain("does not verify");
    expect(external).toEqual(["DEK"]);
    const human = await runCli(["status", "--policy", writePolicy(dir, { inventory: [cert("TLS-EXT", `tls://127.0.0.1:${ports.fine}`)] }, "human.yaml"), "--journal", path.join(dir, "legal")], { env: cliAwsEnv });
    expect(human.stdout).toMatch(/TLS-EXT: ok, expires .* \(in \d+d( \d+h)?\)/);
    expect(human.stdout).toContain("CN=localhost; issuer CN=dropkeys test CA; ECDSA P-256");
  });

  it("due within the lead time (10 days < 14) and expired are findings: exit 4; a wrong host name is a warning beside the expiry", async () => {
    const { r, certs: found } = await status([
      cert("DUE", `tls://127.0.0.1:${ports.due}`),
      cert("GONE", `tls://127.0.0.1:${ports.expired}`),
      cert("OTHER", `tls://127.0.0.1:${ports.wrongHost}`, { sni: "localhost" }),
    ]);
    expect(r.code).toBe(4);
    const by = Object.fromEntries(found.map((c) => [c.name, c]));
    expect(by.DUE).toMatchObject({ health: "due", daysLeft: 10 });
    expect(by.GONE).toMatchObject({ health: "expired" });
    expect(by.OTHER).toMatchObject({ health: "ok", facts: { subject: "CN=other.example" } });
    expect(by.OTHER!.facts!.warnings.join(" ")).toContain("wrong host name: the certificate is for DNS:other.example, not localhost");
  });

  it("a refused connection, a server that never answers (timeout) and one that does not speak TLS each get a clear message, exit 4, no hang", async () => {
    const started = Date.now();
    const { r, certs: found } = await status([cert("REFUSED", `tls://127.0.0.1:${ports.closed}`), cert("SILENT", `tls://127.0.0.1:${ports.silent}`), cert("NOTTLS", `tls://127.0.0.1:${ports.notTls}`)]);
    expect(r.code).toBe(4);
    const by = Object.fromEntries(found.map((c) => [c.name, c]));
    expect(by.REFUSED).toMatchObject({ health: "unreadable", error: expect.stringContaining("connection refused") });
    expect(by.SILENT).toMatchObject({ health: "unreadable", error: expect.stringContaining("no TLS handshake within 1s") });
    expect(by.NOTTLS).toMatchObject({ health: "unreadable", error: expect.stringContaining("TLS handshake failed") });
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});

describe("certificates in PEM files and ACM", () => {
  it("a provider certificate (rotation: provider) alerts 60 days ahead unless the entry says otherwise; RSA key type", async () => {
    const { r, certs: found } = await status([
      cert("BANKID-CERT", `file:${certs.provider.certFile}`, { rotation: "provider" }),
      cert("BANKID-SHORT", `file:${certs.provider.certFile}`, { rotation: "provider", alertBefore: "20d" }),
    ]);
    expect(r.code).toBe(4);
    const by = Object.fromEntries(found.map((c) => [c.name, c]));
    expect(by["BANKID-CERT"]).toMatchObject({ health: "due", leadTimeDays: 60, daysLeft: 30, facts: { keyType: "RSA-2048", subject: "CN=bankid.example" } });
    expect(by["BANKID-SHORT"]).toMatchObject({ health: "ok", leadTimeDays: 20 });
  });

  it("never reads a private key: a file holding one (here unparseable) still yields the certificate, with a warning", async () => {
    const file = path.join(dir, "with-key.pem");
    writeFileSync(file, `${certs.rsa.cert}-----BEGIN PRIVATE KEY-----\nnot a key at all\n-----END PRIVATE KEY-----\n`);
    const { r, certs: [found] } = await status([cert("WITHKEY", `file:${file}`)]);
    expect(r.code, r.stderr).toBe(0);
    expect(found).toMatchObject({ health: "ok", facts: { keyType: "RSA-2048" } });
    expect(found!.facts!.warnings.join(" ")).toContain("also holds a private key (not read)");
    expect(r.stdout + r.stderr).not.toContain("not a key at all");
  });

  it("a missing file or one without a certificate is unreadable (exit 4)", async () => {
    const empty = path.join(dir, "empty.pem");
    writeFileSync(empty, "hello\n");
    const { r, certs: found } = await status([cert("MISSING", `file:${path.join(dir, "nope.pem")}`), cert("EMPTY", `file:${empty}`)]);
    expect(r.code).toBe(4);
    expect(found.map((c) => [c.name, c.health])).toEqual([["MISSING", "unreadable"], ["EMPTY", "unreadable"]]);
    expect(found[1]!.error).toContain("holds no PEM certificate");
  });

  it("reads a certificate in ACM (moto) by ARN", async () => {
    const acm = new ACMClient({ region: "eu-north-1", endpoint: motoUrl(), credentials: { accessKeyId: "test", secretAccessKey: "test" }, maxAttempts: 1 });
    const imported = await acm.send(new ImportCertificateCommand({ Certificate: Buffer.from(certs.due.cert), PrivateKey: Buffer.from(certs.due.key) }));
    const { r, certs: [found] } = await status([cert("ACM-CERT", `acm:${imported.CertificateArn}`)]);
    expect(r.code).toBe(4);
    expect(found).toMatchObject({ name: "ACM-CERT", health: "due", daysLeft: 10 });
    expect(found!.facts!.subject).toContain("localhost");
  });
});
