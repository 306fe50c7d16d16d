// Certificates made at test time with the openssl command line: a test CA (not a trusted root)
// and leaf certificates with any validity window (`openssl ca -startdate/-enddate`, so an
// already expired one too). Nothing here is committed: every key is generated per run.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

export interface Issued {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

/** openssl's YYYYMMDDHHMMSSZ. */
const stamp = (date: Date) => date.toISOString().replace(/[-:T]/g, "").slice(0, 14) + "Z";

export function makeCa(dir: string): { dir: string; certFile: string; keyFile: string; config: string } {
  const ca = path.join(dir, "ca");
  mkdirSync(path.join(ca, "newcerts"), { recursive: true });
  writeFileSync(path.join(ca, "index.txt"), "");
  writeFileSync(path.join(ca, "serial"), "1000\n");
  const config = path.join(ca, "openssl.cnf");
  writeFileSync(
    config,
    [
      "[ca]",
      "default_ca = test_ca",
      "[test_ca]",
      `database = ${path.join(ca, "index.txt")}`,
      `new_certs_dir = ${path.join(ca, "newcerts")}`,
      `serial = ${path.join(ca, "serial")}`,
      "default_md = sha256",
      "policy = any_name",
      "copy_extensions = copy",
      "unique_subject = no",
      "[any_name]",
      "commonName = supplied",
      "",
    ].join("\n"),
  );
  const certFile = path.join(ca, "ca.crt");
  const keyFile = path.join(ca, "ca.key");
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", keyFile, "-out", certFile, "-days", "3650", "-subj", "/CN=dropkeys test CA"], { stdio: "pipe" });
  return { dir: ca, certFile, keyFile, config };
}

/** A leaf certificate for `names` (DNS names or IPs), valid from `notBefore` to `notAfter`, signed by the CA. */
export function issue(ca: ReturnType<typeof makeCa>, label: string, o: { names: string[]; notBefore: Date; notAfter: Date; rsa?: boolean }): Issued {
  const keyFile = path.join(ca.dir, `${label}.key`);
  const csr = path.join(ca.dir, `${label}.csr`);
  const certFile = path.join(ca.dir, `${label}.crt`);
  const san = o.names.map((n) => (/^\d+\.\d+\.\d+\.\d+$/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(",");
  const keyArgs = o.rsa ? ["-newkey", "rsa:2048"] : ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];
  execFileSync("openssl", ["req", "-new", ...keyArgs, "-nodes", "-keyout", keyFile, "-out", csr, "-subj", `/CN=${o.names[0]}`, "-addext", `subjectAltName=${san}`], { stdio: "pipe" });
  execFileSync("openssl", ["ca", "-batch", "-notext", "-config", ca.config, "-cert", ca.certFile, "-keyfile", ca.keyFile, "-in", csr, "-out", certFile, "-startdate", stamp(o.notBefore), "-enddate", stamp(o.notAfter)], { stdio: "pipe" });
  return { certFile, keyFile, cert: readFileSync(certFile, "utf8"), key: readFileSync(keyFile, "utf8") };
}
