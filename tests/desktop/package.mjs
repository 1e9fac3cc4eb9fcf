// The installed package: the .deb built from this commit, installed with apt-get on top of a
// data directory from Waymark 0.1.0 (tests/fixtures/upgrade), used as a user would, removed.
// Run by `bash scripts/desktop.sh package-test` (which bundles the .deb from the binaries the
// test build made and wraps this in `dbus-run-session -- xvfb-run -a`). Needs root or
// password-less sudo: it installs and removes the `waymark` package.
//
// 1. `/usr/bin/waymark --version`: version, schema versions, data directory, and the old file's
//    schema, read without writing it;
// 2. the installed desktop app opens the 0.1.0 database: a checked backup first, then the
//    upgrade (notice in the page and in `about`); its agents, servers and runs are all there;
// 3. start at login: the setting writes the login entry, and turning it off deletes it;
// 4. the app started by that entry (`--autostart`) shows no window, its tray says the worker
//    runs and one run waits; a second launch shows the first one's window;
// 5. `waymark demo --yes` with the installed CLI;
// 6. an older Waymark on a newer database: refused, naming both versions, the file unchanged;
// 7. the package is removed; the data directory stays.

import { execFileSync, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Driver, fail, sleep, startWebDriver, until } from "./webdriver.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const deb = process.argv[2] ?? fail("usage: node tests/desktop/package.mjs PATH/TO/waymark.deb");
const fixture = join(root, "tests/fixtures/upgrade/waymark-0.1.0.db");
const CLI = "/usr/bin/waymark";
const APP = "/usr/bin/waymark-desktop";
const port = Number(process.env.WEBDRIVER_PORT ?? 4445);
const log = (m) => console.log(`package-test: ${m}`);

/** `cmd args` as root: directly when we are, else through password-less sudo. */
function asRoot(cmd, args) {
  const [c, a] = process.getuid() === 0 ? [cmd, args] : ["sudo", ["-n", cmd, ...args]];
  const r = spawnSync(c, a, { encoding: "utf8", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  if (r.status !== 0) fail(`${c} ${a.join(" ")} exited ${r.status}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

function installed() {
  return spawnSync("dpkg-query", ["-W", "-f", "${Status}", "waymark"], { encoding: "utf8" }).stdout.includes("install ok installed");
}

/** Runs the installed CLI as the test's user (HOME = the test's home). */
function cli(env, args, { allowFail = false } = {}) {
  const r = spawnSync(CLI, args, { env, encoding: "utf8", timeout: 120_000 });
  if (!allowFail && r.status !== 0) fail(`waymark ${args.join(" ")} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** Rows of `sql` on the SQLite file `db` (Python's sqlite3: the file is read, never written). */
function sqlite(db, sql) {
  const script = "import json,sqlite3,sys\nc=sqlite3.connect('file:'+sys.argv[1]+'?mode=ro',uri=True)\nprint(json.dumps(c.execute(sys.argv[2]).fetchall()))";
  return JSON.parse(execFileSync("python3", ["-c", script, db, sql], { encoding: "utf8" }));
}

function sqliteWrite(db, sql) {
  const script = "import sqlite3,sys\nc=sqlite3.connect(sys.argv[1])\nc.executescript(sys.argv[2])\nc.commit()";
  execFileSync("python3", ["-c", script, db, sql]);
}

const sha256 = (file) => createHash("sha256").update(readFileSync(file)).digest("hex");

/** The viewable top-level windows named "Waymark" on the display (X11, xwininfo). */
function visibleWaymarkWindows() {
  const tree = execFileSync("xwininfo", ["-root", "-tree"], { encoding: "utf8" });
  const ids = [...tree.matchAll(/^\s+(0x[0-9a-f]+) "Waymark":/gm)].map((m) => m[1]);
  return ids.filter((id) => /Map State: IsViewable/.test(execFileSync("xwininfo", ["-id", id], { encoding: "utf8" })));
}

/** The tray lines the app logged (`tray: …`), newest last. */
function trayLines(dataDir) {
  const logs = join(dataDir, "logs");
  if (!existsSync(logs)) return [];
  return readdirSync(logs)
    .filter((f) => f.startsWith("waymark-desktop"))
    .flatMap((f) => readFileSync(join(logs, f), "utf8").split("\n"))
    .filter((l) => l.includes("tray: "))
    .map((l) => l.slice(l.lastIndexOf("tray: ") + 6));
}

async function desktopSession(env, dataDir, fixtureRuns) {
  const driver = startWebDriver(port, env);
  const d = new Driver(port);
  try {
    await d.open(APP);
    const about = await d.apiCall("about", {});
    log(`the installed app is up: Waymark ${about.version}, schema ${about.schema_version}, data in ${about.data_dir}`);
    if (about.data_dir !== dataDir) fail(`about.data_dir is ${about.data_dir}, not ${dataDir}`);
    if (about.cli_path !== CLI) fail(`about.cli_path is ${about.cli_path}: the app does not find the installed CLI`);
    const up = about.upgrade ?? fail(`the app opened the 0.1.0 database without an upgrade: ${JSON.stringify(about)}`);
    if (up.from_schema !== 7 || up.to_schema !== about.schema_version || !up.backup)
      fail(`the upgrade reads ${JSON.stringify(up)}`);
    if (!existsSync(up.backup) || dirname(up.backup) !== join(dataDir, "backups")) fail(`no backup at ${up.backup}`);
    const [[backupVersion]] = sqlite(up.backup, "PRAGMA user_version");
    const backupRuns = sqlite(up.backup, "SELECT id FROM runs ORDER BY id").map((r) => r[0]);
    if (backupVersion !== 7 || backupRuns.join() !== fixtureRuns.map((r) => r[0]).join())
      fail(`the backup is not the 0.1.0 database: schema ${backupVersion}, runs ${backupRuns}`);
    log(`upgraded from schema 7 to ${up.to_schema}; the backup ${up.backup} is the old file (schema 7, ${backupRuns.length} runs)`);
    const notice = await d.waitForTestId("upgrade-notice", 15_000);
    if (!/upgraded the database from schema 7/.test(await d.text(notice))) fail(`the notice reads "${await d.text(notice)}"`);
    // Settings → About and "Use Waymark from a terminal": the version, and the installed CLI.
    await d.script(`location.hash = '#/settings'`);
    const shownVersion = await d.text(await d.waitForTestId("about-version", 15_000));
    if (shownVersion !== about.version) fail(`About shows version "${shownVersion}", not ${about.version}`);
    const terminal = await d.text(await d.waitForTestId("cli-installed", 15_000));
    if (!terminal.includes(CLI)) fail(`the terminal help reads "${terminal}"`);
    log(`Settings shows About (Waymark ${shownVersion}) and "${terminal}"`);

    // Everything 0.1.0 had: its runs with their statuses, agents, servers.
    const listed = await d.apiCall("runs_list", { include_children: true, limit: 100 });
    for (const [id, status] of fixtureRuns) {
      const run = listed.runs.find((r) => r.id === id);
      if (run?.status !== status) fail(`run ${id} (${status} in 0.1.0) is ${run ? run.status : "missing"} after the upgrade`);
    }
    const agents = (await d.apiCall("agents_list", {})).agents.map((a) => a.name).sort();
    const servers = (await d.apiCall("mcp_list", {})).servers.map((s) => s.name).sort();
    for (const name of ["demo-researcher", "demo-support"]) if (!agents.includes(name)) fail(`agent ${name} is gone: ${agents}`);
    if (!servers.includes("notes")) fail(`the MCP server "notes" is gone: ${servers}`);
    log(`the app lists the ${fixtureRuns.length} runs of 0.1.0 with their statuses, agents ${agents.join(", ")}, servers ${servers.join(", ")}`);

    // Start at login: the entry appears and goes.
    const autostart = join(env.HOME, ".config/autostart");
    const entries = () => (existsSync(autostart) ? readdirSync(autostart).filter((f) => f.endsWith(".desktop")) : []);
    if (entries().length) fail(`a login entry exists before the setting: ${entries()}`);
    if ((await d.invoke("start_at_login_get", {})) !== false) fail("start at login is on by default");
    if ((await d.invoke("start_at_login_set", { enabled: true })) !== true) fail("start_at_login_set(true) did not turn it on");
    const [entry] = entries();
    const text = entry ? readFileSync(join(autostart, entry), "utf8") : fail("no login entry was written");
    if (!text.split("\n").some((l) => l.startsWith("Exec=") && l.includes(APP) && l.includes("--autostart")))
      fail(`the login entry ${entry} does not start ${APP} --autostart:\n${text}`);
    await d.invoke("start_at_login_set", { enabled: false });
    if (entries().length) fail(`turning it off left ${entries()}`);
    await d.invoke("start_at_login_set", { enabled: true });
    log(`start at login writes ${join(autostart, entry)} (Exec=${APP} --autostart) and deletes it`);
    return text;
  } finally {
    await d.close();
    await driver.stop();
  }
}

/** The app as the login entry starts it: tray only, worker running; then a second launch. */
async function startedAtLogin(env, dataDir, entry) {
  const exec = entry.split("\n").find((l) => l.startsWith("Exec=")).slice(5).trim().split(/\s+/);
  const since = trayLines(dataDir).length;
  const app = spawn(exec[0], exec.slice(1), { env, stdio: ["ignore", "inherit", "inherit"], detached: true });
  try {
    const line = await until("the tray to report the worker", 60_000, async () => trayLines(dataDir).slice(since).find((l) => l.startsWith("Worker: ")));
    if (!line.startsWith("Worker: running")) fail(`the tray says "${line}"`);
    if (!/1 run waits for you/.test(line)) fail(`the tray should count the 0.1.0 run that waits for approval: "${line}"`);
    // The window exists from the start: give it time to (wrongly) map before looking.
    await sleep(2000);
    const shown = visibleWaymarkWindows();
    if (shown.length) fail(`started with --autostart, the app shows a window (${shown})`);
    log(`started by its login entry: no window; the tray says "${line}"`);
    const second = spawnSync(APP, [], { env, timeout: 60_000 });
    if (second.status !== 0) fail(`a second launch exited ${second.status}: ${second.stderr}`);
    await until("the first app's window to show", 30_000, async () => visibleWaymarkWindows().length > 0);
    log("a second launch showed the first app's window and exited");
  } finally {
    for (const signal of ["SIGTERM", "SIGKILL"]) {
      try {
        process.kill(-app.pid, signal);
      } catch {}
      await sleep(1000);
    }
  }
}

async function main() {
  if (!existsSync(deb)) fail(`${deb} is missing`);
  const home = mkdtempSync(join(tmpdir(), "waymark-package-"));
  const dataDir = join(home, ".local/share/waymark");
  const env = { ...process.env, HOME: home, WAYMARK_SECRET_BACKEND: "file" };
  for (const v of ["WAYMARK_HOME", "WAYMARK_DB", "XDG_DATA_HOME", "XDG_CONFIG_HOME"]) delete env[v];
  try {
    if (installed()) asRoot("apt-get", ["remove", "-y", "waymark"]);
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const db = join(dataDir, "waymark.db");
    copyFileSync(fixture, db);
    const fixtureRuns = sqlite(fixture, "SELECT id, status FROM runs ORDER BY id");

    asRoot("apt-get", ["install", "-y", "--no-install-recommends", resolve(deb)]);
    for (const bin of [CLI, APP]) if (!existsSync(bin)) fail(`the package did not install ${bin}`);
    log(`installed ${deb}: ${CLI}, ${APP}`);

    const before = sha256(db);
    const version = cli(env, ["--version"]).stdout;
    for (const want of [/^waymark \d+\.\d+\.\d+/m, /^schema: database \d+, agent catalog \d+$/m, new RegExp(`^data directory: ${dataDir}$`, "m"), /\(schema 7: the next command upgrades it, after a backup\)/])
      if (!want.test(version)) fail(`waymark --version does not say ${want}:\n${version}`);
    if (sha256(db) !== before) fail("waymark --version wrote to the database");
    log(`waymark --version:\n${version.trimEnd()}`);

    const entry = await desktopSession(env, dataDir, fixtureRuns);
    await startedAtLogin(env, dataDir, entry);

    const demo = cli(env, ["demo", "--yes"]);
    if (!/run [0-9a-f-]{36}\s+succeeded/.test(demo.stdout)) fail(`waymark demo --yes did not succeed:\n${demo.stdout}`);
    const runs = JSON.parse(cli(env, ["runs", "list", "--json"]).stdout);
    log(`waymark demo --yes succeeded with the installed CLI; runs list shows ${runs.runs?.length ?? runs.length} runs`);

    // An older build on a newer database: this build plays the older one.
    const newer = join(home, "newer.db");
    copyFileSync(db, newer);
    sqliteWrite(newer, "INSERT OR REPLACE INTO schema_history VALUES (99, '9.9.9', 0); PRAGMA user_version = 99;");
    const unchanged = sha256(newer);
    const refused = cli(env, ["--db", newer, "runs", "list"], { allowFail: true });
    if (refused.status === 0) fail("waymark opened a database of schema 99");
    if (!/schema version 99 \(written by Waymark 9\.9\.9\), newer than Waymark \S+ reads \(schema \d+\); nothing was written/.test(refused.stderr))
      fail(`the refusal does not name both versions: ${refused.stderr}`);
    if (sha256(newer) !== unchanged) fail("the refused database was written to");
    log(`a newer database is refused: ${refused.stderr.trim()}`);

    asRoot("apt-get", ["remove", "-y", "waymark"]);
    if (existsSync(CLI) || existsSync(APP) || installed()) fail("the package is still installed after apt-get remove");
    if (!existsSync(db) || readdirSync(join(dataDir, "backups")).length === 0) fail(`removing the package touched ${dataDir}`);
    log(`removed the package; ${dataDir} is still there (database and backups)`);
    log("PASS");
  } finally {
    if (installed()) {
      try {
        asRoot("apt-get", ["remove", "-y", "waymark"]);
      } catch (e) {
        console.error(`package-test: cannot remove the package: ${e.message}`);
      }
    }
    rmSync(home, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(`package-test: FAIL: ${e.message}`);
    process.exit(1);
  },
);
