// The sign-in lab of the desktop smoke test: an OAuth authorization server (tests/oauth/
// auth_server.mjs, npm oauth2-mock-server, whose /authorize redirects at once) and the demo
// tools as a protected MCP server of it (waymark-demo-tools --http … --authorization-server …),
// both on 127.0.0.1, as crates/cli/tests/it/mcp_oauth/harness.rs starts them.
//
// The "browser" is BROWSER_COMMAND: the CLI tests' headless opener, which GETs the URL given as
// its last argument and follows the redirects back to the app's loopback listener.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const OPENER = join(root, "crates/cli/tests/it/mcp_oauth/open.mjs");
const AUTH_SERVER = join(root, "tests/oauth/auth_server.mjs");
const DEMO_TOOLS = join(root, "target/debug/waymark-demo-tools");
/** The scope the protected server asks every token for. */
export const SCOPE = "mcp:tools";

/** `$BROWSER` for the app: split on whitespace, the URL appended. */
export const BROWSER_COMMAND = `${process.execPath} ${OPENER}`;

/** A child whose first stdout line is its address; stderr kept (its tail) for failures. */
function startProcess(name, command, args, env) {
  const child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"], env });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr = (stderr + d).slice(-8000)));
  const ready = new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`${name} printed no line within 30 s; stderr:\n${stderr}`)), 30_000);
    createInterface({ input: child.stdout }).once("line", (line) => {
      clearTimeout(timer);
      ok(line.trim());
    });
    child.once("error", (e) => fail(new Error(`cannot start ${name}: ${e.message}`)));
    child.once("exit", (code, signal) => fail(new Error(`${name} exited (${code ?? signal}); stderr:\n${stderr}`)));
  });
  return { child, ready, stderr: () => stderr };
}

function stop(proc) {
  if (!proc || proc.child.exitCode !== null || proc.child.signalCode !== null) return Promise.resolve();
  const exited = new Promise((r) => proc.child.once("exit", r));
  proc.child.stdin.end(); // the authorization server stops at the end of its stdin
  proc.child.kill("SIGTERM");
  const timer = setTimeout(() => proc.child.kill("SIGKILL"), 3000);
  return exited.finally(() => clearTimeout(timer));
}

/** Starts both servers: `{issuer, url, logs(), close()}`; `url` is the protected server's /mcp. */
export async function startOAuthLab() {
  for (const [file, hint] of [
    [join(root, "tests/oauth/node_modules/oauth2-mock-server/package.json"), "run `bash scripts/setup-test-deps.sh`"],
    [DEMO_TOOLS, "run `cargo build -p waymark-demo-tools`"],
    [OPENER, "the CLI's sign-in tests own it"],
  ])
    if (!existsSync(file)) throw new Error(`${file} is missing: ${hint}`);
  const dir = mkdtempSync(join(tmpdir(), "waymark-desktop-oauth-"));
  const env = { ...process.env, RUST_LOG: "warn" };
  delete env.DEMO_TOOLS_FAULTS;
  let auth, tools;
  const close = async () => {
    await Promise.all([stop(tools), stop(auth)]);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    auth = startProcess("the authorization server (tests/oauth/auth_server.mjs)", process.execPath, [AUTH_SERVER], env);
    const { issuer } = JSON.parse(await auth.ready);
    if (!/^http:\/\/127\.0\.0\.1:\d+$/.test(issuer ?? "")) throw new Error(`unexpected issuer: ${issuer}`);
    tools = startProcess(
      "waymark-demo-tools --http",
      DEMO_TOOLS,
      ["--http", "127.0.0.1:0", "--outbox", join(dir, "outbox.jsonl"), "--authorization-server", issuer, "--scope", SCOPE],
      env,
    );
    const url = await tools.ready;
    if (!/^http:\/\/127\.0\.0\.1:\d+\/mcp$/.test(url)) throw new Error(`unexpected server URL: ${url}`);
    return {
      issuer,
      url,
      logs: () => `authorization server:\n${auth.stderr()}\nwaymark-demo-tools:\n${tools.stderr()}`,
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}
