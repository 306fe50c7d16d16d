// The local AWS emulators for the tests and the drill, installed into the git-ignored .cache/:
// - moto_server (pinned 5.2.1): Secrets Manager, S3, STS, CloudTrail trails. The machine's own
//   moto is used when it is the pinned version, else a virtual environment gets it from PyPI.
// - one KMS endpoint per inventory region: moto with AWS KMS's key-state rules added
//   (scripts/emulators/moto_kms_strict.py). It stays the default KMS of the tests and the drill
//   because local-kms lacks grants, RotateKeyOnDemand and ListKeyRotations, which dropkeys uses.
// - one local-kms per inventory region (pinned commit, built with the machine's Go into
//   .cache/bin): a second, independent implementation of KMS's key-state rules, which the tests
//   run the same checks and dropkeys' own verifications against (DROPKEYS_EMULATOR_LOCALKMS_*).
// - DuckDB and sqlglot (pinned) in .cache/sql-venv: the audit's Athena SQL is run on DuckDB.
// Each process gets a free port and is reached on 127.0.0.1 (moto listens only there; local-kms
// has no address setting and listens on every interface); start() waits until every one answers.
//
//   node scripts/aws-emulators.mjs install   # make sure everything is in .cache/
//   node scripts/aws-emulators.mjs start     # start in the background, print `export` lines
//   node scripts/aws-emulators.mjs stop      # stop what `start` started
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const MOTO_VERSION = "5.2.1";
export const REGIONS = ["eu-north-1", "eu-west-1"];
export const LOCAL_KMS_MODULE = "github.com/nsmithuk/local-kms";
// The module proxy serves this pseudo-version (not @master or tagged releases): see EMULATORS.md.
export const LOCAL_KMS_VERSION = "v0.0.0-20260228092603-2a5e92d09ab6";
// moto's account, so ARNs in the test policies look the same on both KMS emulators.
const ACCOUNT_ID = "123456789012";
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const cache = path.join(root, ".cache");
const venv = path.join(cache, "moto-venv");
const strictLauncher = path.join(root, "scripts", "emulators", "moto_kms_strict.py");
const binDir = path.join(cache, "bin");
export const LOCAL_KMS_BINARY = path.join(binDir, "local-kms");
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

/**
 * Whether `binary` was built from the pinned local-kms. Go embeds the module line
 * ("mod<TAB>path<TAB>version") of every binary it builds as plain text, which `go version -m`
 * prints; reading it here needs no Go, so a built binary keeps working where Go is gone.
 */
function isPinnedLocalKms(binary) {
  if (!existsSync(binary)) return false;
  return readFileSync(binary).includes(`mod\t${LOCAL_KMS_MODULE}\t${LOCAL_KMS_VERSION}\t`);
}

/** The local-kms binary at the pinned version; builds it into .cache/bin with `go install` when needed. */
export function installLocalKms() {
  if (isPinnedLocalKms(LOCAL_KMS_BINARY)) return LOCAL_KMS_BINARY;
  const go = spawnSync("go", ["version"], { encoding: "utf8" });
  if (go.error || go.status !== 0) {
    throw new Error(
      `Go is needed to build local-kms (${LOCAL_KMS_MODULE}@${LOCAL_KMS_VERSION}), one of the test emulators, ` +
        "but `go version` failed" + (go.error ? ` (${go.error.code ?? go.error.message})` : "") +
        ". Install Go (https://go.dev/dl/) and run `node scripts/aws-emulators.mjs install` again.",
    );
  }
  log(`building local-kms ${LOCAL_KMS_VERSION} into ${binDir} with ${go.stdout.trim()} (first run only)`);
  mkdirSync(binDir, { recursive: true });
  execFileSync("go", ["install", `${LOCAL_KMS_MODULE}@${LOCAL_KMS_VERSION}`], { stdio: "inherit", env: { ...process.env, GOBIN: binDir } });
  if (!isPinnedLocalKms(LOCAL_KMS_BINARY)) throw new Error(`go install did not leave local-kms ${LOCAL_KMS_VERSION} at ${LOCAL_KMS_BINARY}`);
  return LOCAL_KMS_BINARY;
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

/** Resolves with the milliseconds from `since` until the server answered any HTTP request below 500. */
async function waitUntilAnswering(url, child, name, since, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited with code ${child.exitCode} before answering`);
    try {
      // moto serves /moto-api/; local-kms answers every GET with 405 once it listens.
      const res = await fetch(`${url}/moto-api/`, { signal: AbortSignal.timeout(1000) });
      if (res.status < 500) return Date.now() - since;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${name} did not answer at ${url} within ${timeoutMs} ms`);
}

const envName = (prefix, region) => `${prefix}_${region.toUpperCase().replaceAll("-", "_")}`;

/**
 * Start moto, one strict-KMS moto per region and one local-kms per region. `detached` leaves
 * them running after this process ends (`start` from a shell); otherwise they die with it.
 * Returns the endpoints, the environment for tests and the CLI, how long each took to answer,
 * and stop(), which also removes local-kms's temporary databases.
 */
export async function startEmulators({ logDir = path.join(cache, "logs"), detached = false } = {}) {
  const python = installMoto();
  const localKmsBinary = installLocalKms();
  mkdirSync(logDir, { recursive: true });
  const started = [];
  const dataDirs = [];
  const launch = async (name, command, args, extraEnv) => {
    const port = await freePort();
    const out = openSync(path.join(logDir, `${name}.log`), "a");
    const since = Date.now();
    const child = spawn(command, args(port), {
      stdio: ["ignore", out, out],
      detached,
      env: { ...process.env, ...extraEnv(port) },
    });
    closeSync(out);
    if (detached) child.unref();
    started.push(child);
    const url = `http://127.0.0.1:${port}`;
    return { name, url, child, since };
  };
  const launchMoto = (name, args) => launch(name, python, (port) => [...args, "-H", "127.0.0.1", "-p", String(port)], () => ({ PYTHONUNBUFFERED: "1" }));
  const launchLocalKms = (region) => {
    const dataDir = mkdtempSync(path.join(tmpdir(), `dropkeys-local-kms-${region}-`));
    dataDirs.push(dataDir);
    return launch(`local-kms-${region}`, localKmsBinary, () => [], (port) => ({
      KMS_REGION: region,
      KMS_ACCOUNT_ID: ACCOUNT_ID,
      PORT: String(port),
      KMS_DATA_PATH: dataDir,
      // A seed file that does not exist: never pick up a machine-wide /init/seed.yaml.
      KMS_SEED_PATH: path.join(dataDir, "no-seed.yaml"),
    }));
  };
  const removeDataDirs = () => {
    for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  };
  try {
    const moto = await launchMoto("moto", ["-m", "moto.server"]);
    const kms = await Promise.all(REGIONS.map((region) => launchMoto(`kms-${region}`, [strictLauncher])));
    const local = await Promise.all(REGIONS.map(launchLocalKms));
    const all = [moto, ...kms, ...local];
    const times = await Promise.all(all.map((p) => waitUntilAnswering(p.url, p.child, p.name, p.since)));
    const startupMs = Object.fromEntries(all.map((p, i) => [p.name, times[i]]));
    const kmsUrls = Object.fromEntries(REGIONS.map((region, i) => [region, kms[i].url]));
    const localKmsUrls = Object.fromEntries(REGIONS.map((region, i) => [region, local[i].url]));
    const endpoints = { kms: kmsUrls, secretsmanager: moto.url, s3: moto.url, sts: moto.url, cloudtrail: moto.url };
    const env = {
      AWS_ACCESS_KEY_ID: "test",
      AWS_SECRET_ACCESS_KEY: "test",
      AWS_REGION: "eu-north-1",
      DROPKEYS_EMULATOR_MOTO: moto.url,
      ...Object.fromEntries(REGIONS.map((r) => [envName("DROPKEYS_EMULATOR_KMS", r), kmsUrls[r]])),
      ...Object.fromEntries(REGIONS.map((r) => [envName("DROPKEYS_EMULATOR_LOCALKMS", r), localKmsUrls[r]])),
      DROPKEYS_EMULATOR_ENDPOINTS: JSON.stringify(endpoints),
    };
    const pids = started.map((c) => c.pid);
    const stop = async () => {
      for (const child of started) if (child.exitCode === null) child.kill("SIGTERM");
      await Promise.all(started.map((c) => (c.exitCode !== null ? undefined : new Promise((r) => c.once("exit", r)))));
      removeDataDirs();
    };
    return { motoUrl: moto.url, kmsUrls, localKmsUrls, endpoints, env, pids, dataDirs, startupMs, logDir, stop };
  } catch (error) {
    for (const child of started) child.kill("SIGKILL");
    removeDataDirs();
    throw error;
  }
}

async function cli(command) {
  switch (command) {
    case "install":
      installMoto();
      if (!existsSync(strictLauncher)) throw new Error(`missing ${strictLauncher}`);
      log(`moto ${MOTO_VERSION} ready`);
      installLocalKms();
      log(`local-kms ${LOCAL_KMS_VERSION} ready`);
      installSqlTools();
      log(`${SQL_TOOLS.join(", ")} ready`);
      return;
    case "start": {
      const emulators = await startEmulators({ detached: true });
      writeFileSync(pidFile, JSON.stringify({ pids: emulators.pids, env: emulators.env, dataDirs: emulators.dataDirs }));
      for (const [k, v] of Object.entries(emulators.env)) console.log(`export ${k}='${v}'`);
      log(`answering after: ${Object.entries(emulators.startupMs).map(([name, ms]) => `${name} ${ms} ms`).join(", ")}`);
      log(`started (logs in ${emulators.logDir}); stop with: node scripts/aws-emulators.mjs stop`);
      return;
    }
    case "stop": {
      if (!existsSync(pidFile)) return log("nothing to stop");
      const { pids, dataDirs = [] } = JSON.parse(readFileSync(pidFile, "utf8"));
      for (const pid of pids) {
        try {
          process.kill(pid, "SIGTERM");
        } catch {
          /* already gone */
        }
      }
      rmSync(pidFile, { force: true });
      // local-kms writes its database until it exits; a moment later its directory can go.
      await new Promise((r) => setTimeout(r, 500));
      for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
      return log(`stopped ${pids.length} processes`);
    }
    default:
      console.error("usage: node scripts/aws-emulators.mjs install|start|stop");
      process.exitCode = 2;
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  // An expected failure (Go missing, a server that does not start) is one line, not a stack trace.
  await cli(process.argv[2]).catch((error) => {
    log(`error: ${error.message}`);
    process.exitCode = 1;
  });
}
