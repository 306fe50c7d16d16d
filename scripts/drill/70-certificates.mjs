// Drill stage: certificate expiry in `status`. A TLS server (openssl s_server) presents a
// certificate made now that expires in 10 days, inside TLS-EXT's 14-day lead time; BankID's
// certificate is a PEM file with 200 days left. Keys and certificates are made at run time.
import { spawn, spawnSync } from "node:child_process";
import { connect, createServer } from "node:net";
import path from "node:path";

function freePort() {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function selfSigned(drill, name, days, cn) {
  const key = path.join(drill.work, `${name}.key`);
  const cert = path.join(drill.work, `${name}.crt`);
  const r = spawnSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert, "-days", String(days), "-subj", `/CN=${cn}`, "-addext", `subjectAltName=DNS:${cn}`], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`openssl req failed: ${r.stderr}`);
  return { key, cert };
}

async function untilListening(port) {
  for (let i = 0; i < 50; i++) {
    const ok = await new Promise((resolve) => connect(port, "127.0.0.1").once("connect", function () { this.destroy(); resolve(true); }).once("error", () => resolve(false)));
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`openssl s_server did not listen on ${port}`);
}

export default async function certificatesStage(drill) {
  drill.note(drill.bold("Certificates: expiry checked where they live"));
  const tls = selfSigned(drill, "tls-ext", 10, "localhost");
  const bankid = selfSigned(drill, "bankid", 200, "bankid.drop.example");
  const port = await freePort();
  const server = spawn("openssl", ["s_server", "-quiet", "-accept", String(port), "-cert", tls.cert, "-key", tls.key], { stdio: "ignore" });
  try {
    await untilListening(port);
    for (const entry of drill.policy.inventory) {
      if (entry.name === "TLS-EXT") Object.assign(entry, { check: `tls://127.0.0.1:${port}`, sni: "localhost" });
      if (entry.name === "BANKID-CERT") entry.check = `file:${bankid.cert}`;
    }
    drill.writePolicy();
    drill.note(`TLS-EXT is served on 127.0.0.1:${port} (openssl s_server); BANKID-CERT is ${path.basename(bankid.cert)}.`);
    drill.step("status reads both: TLS-EXT expires in 10 days, inside its 14-day lead time (exit 4)", ["status"], { expect: [4] });
  } finally {
    server.kill();
  }
  const gone = drill.step("The TLS server is gone: a clear message, not a hang (exit 4; --json, certificates shown)", ["status", "--json"], { expect: [4], show: false });
  for (const cert of JSON.parse(gone.stdout || "{}").certificates ?? []) drill.note(`  ${cert.name}: ${cert.health}${cert.error ? `: ${cert.error}` : ""}`);
}
