// How scripts/aws-emulators.mjs installs local-kms: the binary the harness runs is the pinned
// version (as Go itself reports it), a present pinned binary is kept, a binary of another version
// is rebuilt, and without Go the error says what to install. The last three run a copy of the
// script in a temporary project whose .cache/ holds stand-in files, with Go taken off the PATH.
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { installLocalKms, LOCAL_KMS_BINARY, LOCAL_KMS_MODULE, LOCAL_KMS_VERSION } from "../../scripts/aws-emulators.mjs";

describe("the local-kms install", () => {
  it("the harness runs the pinned local-kms: `go version -m` names the module at the pinned version", () => {
    const info = execFileSync("go", ["version", "-m", LOCAL_KMS_BINARY], { encoding: "utf8" });
    expect(info).toMatch(new RegExp(`\\bmod\\s+${LOCAL_KMS_MODULE.replaceAll(".", "\\.")}\\s+${LOCAL_KMS_VERSION}\\s`));
  });

  it("keeps a present pinned binary instead of building it again", () => {
    const before = statSync(LOCAL_KMS_BINARY).mtimeMs;
    expect(installLocalKms()).toBe(LOCAL_KMS_BINARY);
    expect(statSync(LOCAL_KMS_BINARY).mtimeMs).toBe(before);
  });

  describe("in a project copy without Go on the PATH", () => {
    let project: string;
    let fakeBinary: string;
    const pathWithoutGo = (process.env.PATH ?? "")
      .split(path.delimiter)
      .filter((dir) => dir && !existsSync(path.join(dir, "go")))
      .join(path.delimiter);
    const install = () =>
      spawnSync(process.execPath, ["--input-type=module", "-e", `const m = await import(${JSON.stringify(path.join(project, "scripts", "aws-emulators.mjs"))}); console.log(m.installLocalKms());`], {
        encoding: "utf8",
        env: { ...process.env, PATH: pathWithoutGo },
      });
    // What Go embeds in every binary it builds, as aws-emulators.mjs reads it.
    const buildInfo = (version: string) => `\0\0go1.x\0path\t${LOCAL_KMS_MODULE}\nmod\t${LOCAL_KMS_MODULE}\t${version}\th1:abc=\n`;

    beforeAll(() => {
      project = mkdtempSync(path.join(tmpdir(), "dropkeys-lkms-install-"));
      mkdirSync(path.join(project, "scripts"));
      copyFileSync("scripts/aws-emulators.mjs", path.join(project, "scripts", "aws-emulators.mjs"));
      fakeBinary = path.join(project, ".cache", "bin", "local-kms");
      mkdirSync(path.dirname(fakeBinary), { recursive: true });
    });
    afterAll(() => rmSync(project, { recursive: true, force: true }));

    it("Go really is off that PATH", () => {
      expect(spawnSync("go", ["version"], { env: { ...process.env, PATH: pathWithoutGo } }).error).toBeDefined();
    });

    it("a binary built at the pinned version is used without Go", () => {
      writeFileSync(fakeBinary, buildInfo(LOCAL_KMS_VERSION));
      const r = install();
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout.trim()).toBe(fakeBinary);
    });

    it("a binary of another version must be rebuilt: without Go that is a clear error naming Go and the module", () => {
      writeFileSync(fakeBinary, buildInfo("v0.0.0-20200101000000-000000000000"));
      const r = install();
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain(`Go is needed to build local-kms (${LOCAL_KMS_MODULE}@${LOCAL_KMS_VERSION})`);
      expect(r.stderr).toContain("https://go.dev/dl/");
    });

    it("no binary at all: the same error", () => {
      rmSync(fakeBinary);
      const r = install();
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain("Go is needed to build local-kms");
    });
  });
});
