// The local AWS emulators for the tests and the drill, installed into the git-ignored .cache/:
// - moto_server (pinned 5.2.1): Secrets Manager, S3, STS, CloudTrail trails. The machine's own
//   moto is used when it is the pinned version, else a virtual environment gets it from PyPI.
// - one KMS endpoint per inventory region: moto with AWS KMS's key-state rules added
//   (scripts/emulators/moto_kms_strict.py; see the comment there for why not local-kms).
// Each process listens on a free loopback port; start() waits until every one answers.
//
// - DuckDB and sqlglot (pinned) in .cache/sql-venv: the audit's Athena SQL is run on DuckDB.
//
//   node scripts/aws-emulators.mjs install   # make sure everything is in .cache/
//   node scripts/aws-emulators.mjs start     # start in the background, print `export` lines
//   node scripts/aws-emulators.mjs stop      # stop what `start` started
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const MOTO_VERSION = "5.2.1";
export const REGIONS = ["eu-north-1", "eu-west-1"];
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const cache = path.join(root, ".cache");
const venv = path.join(cache, "moto-venv");
const strictLauncher = path.join(root, "scripts", "emulators", "moto_kms_strict.py");
const pidFile = path.join(cache, "emulators.json");
const log = (text) => process.stderr.write(`[emulators] ${text}\n`);

function motoVersionOf(python) {
  const r = spawnSync(python, ["-c", "import moto, flask; print(moto.__version__)"], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** A Python interpreter that has the pinned moto[server]; installs it into .cache/ when needed. */
export function installMoto() {
  for (const python of ["python3", "python"]) {
    if (motoVersionOf(python) === MOTO_VERSION) return python;
  }
  const venvPython = path.join(venv, "bin", "python");
  if (existsSync(venvPython) && motoVersionOf(venvPython) === MOTO_VERSION) return venvPython;
  log(`installing moto[server]==${MOTO_VERSION} into ${venv} (first run only)`);
  mkdirSync(cache, { recursive: true });
  rmSync(venv, { recursive: true, force: true });
  execFileSync("python3", ["-m", "venv", venv], { stdio: "inherit" });
  execFileSync(venvPython, ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", `moto[server]==${MOTO_VERSION}`], { stdio: "inherit" });
  if (motoVersionOf(venvPython) !== MOTO_VERSION) throw new Error(`moto ${MOTO_VERSION} did not install into ${venv}`);
  return venvPython;
}

/** DuckDB and sqlglot, pinned, for the audit's SQL tests (Athena SQL run locally) and its bench. */
export const SQL_TOOLS = ["duckdb==2.0.1", "sqlglot==30.31.0"];
const sqlVenv = path.join(cache, "sql-venv");

function sqlToolsOk(python) {
  const r = spawnSync(python, ["-c", "import duckdb, sqlglot; print(duckdb.__version__ + ' ' + sqlglot.__version__)"], { encoding: "utf8" });
  return r.status === 0 && r.stdout.trim() === SQL_TOOLS.map((p) => p.split("==")[1]).join(" ");
}

/** A Python interpreter with the pinned DuckDB and sqlglot; installs them into .cache/sql-venv when needed. */
export function installSqlTools() {
  const python = path.join(sqlVenv, "bin", "python");
  if (existsSync(python) && sqlToolsOk(python)) return python;
  log(`installing ${SQL_TOOLS.join(" ")} into ${sqlVenv} (first run only)`);
  mkdirSync(cache, { recursive: true });
  rmSync(sqlVenv, { recursive: true, force: true });
  execFileSync("python3", ["-m", "venv", sqlVenv], { stdio: "inherit" });
  execFileSync(python, ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", ...SQL_TOOLS], { stdio: "inherit" });
  if (!sqlToolsOk(python)) throw new Error(`${SQL_TOOLS.join(" ")} did not install into ${sqlVenv}`);
  return python;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function waitUntilAnswering(url, child, name, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited with code ${child.exitCode} before answering`);
    try {
      const res = await fetch(`${url}/moto-api/`, { signal: AbortSignal.timeout(1000) });
      if (res.status < 500) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${name} did not answer at ${url} within ${timeoutMs} ms`);
}

/**
 * Start moto and one strict-KMS moto per region. `detached` leaves them running after this
 * process ends (`start` from a shell); otherwise they die with it. Returns the endpoints, the
 * environment for tests and the CLI, and stop().
 */
export async function startEmulators({ logDir = path.join(cache, "logs"), detached = false } = {}) {
  const python = installMoto();
  mkdirSync(logDir, { recursive: true });
  const started = [];
  const launch = async (name, args) => {
    const port = await freePort();
    const out = openSync(path.join(logDir, `${name}.log`), "a");
    const child = spawn(python, [...args, "-H", "127.0.0.1", "-p", String(port)], {
      stdio: ["ignore", out, out],
      detached,
      env: { ...process.env, PYTHONUNBUFFERED: "1" },
    });
    closeSync(out);
    if (detached) child.unref();
    started.push(child);
    const url = `http://127.0.0.1:${port}`;
    return { name, url, child };
  };
  try {
    const moto = await launch("moto", ["-m", "moto.server"]);
    const kms = await Promise.all(REGIONS.map((region) => launch(`kms-${region}`, [strictLauncher])));
    await Promise.all([moto, ...kms].map((p) => waitUntilAnswering(p.url, p.child, p.name)));
    const kmsUrls = Object.fromEntries(REGIONS.map((region, i) => [region, kms[i].url]));
    const endpoints = { kms: kmsUrls, secretsmanager: moto.url, s3: moto.url, sts: moto.url, cloudtrail: moto.url };
    const env = {
      AWS_ACCESS_KEY_ID: "test",
      AWS_SECRET_ACCESS_KEY: "test",
      AWS_REGION: "eu-north-1",
      DROPKEYS_EMULATOR_MOTO: moto.url,
      ...Object.fromEntries(REGIONS.map((r) => [`DROPKEYS_EMULATOR_KMS_${r.toUpperCase().replaceAll("-", "_")}`, kmsUrls[r]])),
      DROPKEYS_EMULATOR_ENDPOINTS: JSON.stringify(endpoints),
    };
    const pids = started.map((c) => c.pid);
    const stop = async () => {
      for (const child of started) if (child.exitCode === null) child.kill("SIGTERM");
      await Promise.all(started.map((c) => (c.exitCode !== null ? undefined : new Promise((r) => c.once("exit", r)))));
    };
    return { motoUrl: moto.url, kmsUrls, endpoints, env, pids, logDir, stop };
  } catch (error) {
    for (const child of started) child.kill("SIGKILL");
    throw error;
  }
}

async function cli(command) {
  switch (command) {
    case "install":
      installMoto();
      if (!existsSync(strictLauncher)) throw new Error(`missing ${strictLauncher}`);
      log(`moto ${MOTO_VERSION} ready`);
      installSqlTools();
      log(`${SQL_TOOLS.join(", ")} ready`);
      return;
    case "start": {
      const emulators = await startEmulators({ detached: true });
      writeFileSync(pidFile, JSON.stringify({ pids: emulators.pids, env: emulators.env }));
      for (const [k, v] of Object.entries(emulators.env)) console.log(`export ${k}='${v}'`);
      log(`started (logs in ${emulators.logDir}); stop with: node scripts/aws-emulators.mjs stop`);
      return;
    }
    case "stop": {
      if (!existsSync(pidFile)) return log("nothing to stop");
      const { pids } = JSON.parse(readFileSync(pidFile, "utf8"));
      for (const pid of pids) {
        try {
          process.kill(pid, "SIGTERM");
        } catch {
          /* already gone */
        }
      }
      rmSync(pidFile, { force: true });
      return log(`stopped ${pids.length} processes`);
    }
    default:
      console.error("usage: node scripts/aws-emulators.mjs install|start|stop");
      process.exitCode = 2;
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await cli(process.argv[2]);
}
