// The desktop tests' WebDriver client: WebKitWebDriver (Debian's webkit2gtk-driver) started in a
// process group of its own, one session on the app, and the app's own IPC called from the page as
// the UI's transport calls it. Plain Node 20, no npm packages. This is what tauri-driver does on
// Linux (it only renames `tauri:options` to `webkitgtk:browserOptions` and sets the automation
// variables), without building it with `cargo install`.

import { spawn } from "node:child_process";

export class Failure extends Error {}
export const fail = (m) => {
  throw new Failure(m);
};
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` every 250 ms until it returns something truthy; fails after `timeoutMs`. */
export async function until(what, timeoutMs, probe) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (e) {
      if (e instanceof Failure) throw e;
      last = e;
    }
    await sleep(250);
  }
  fail(`timed out after ${timeoutMs / 1000} s waiting for ${what}${last ? ` (last error: ${last.message})` : ""}`);
}

// The W3C web element identifier.
const ELEMENT = "element-6066-11e4-a52e-4f735466cecf";

export class Driver {
  constructor(port) {
    this.url = `http://127.0.0.1:${port}`;
    this.session = null;
  }

  async wd(method, path, body) {
    const res = await fetch(this.url + path, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      // A WebDriver call that hangs (a screenshot the webview never renders) fails the test.
      signal: AbortSignal.timeout(60_000),
    }).catch((e) => {
      // Not a Failure: `until` tries again (the driver may still be starting).
      throw new Error(`WebDriver ${method} ${path}: no answer (${e.message})`);
    });
    const text = await res.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      fail(`WebDriver ${method} ${path}: not JSON (${res.status}): ${text.slice(0, 200)}`);
    }
    if (!res.ok) {
      const err = new Error(`WebDriver ${method} ${path}: ${json.value?.error}: ${json.value?.message}`);
      err.wdError = json.value?.error;
      throw err;
    }
    return json.value;
  }

  s(path) {
    return `/session/${this.session}${path}`;
  }

  /** Starts the app at `application` and waits for its nav (the UI is up). */
  async open(application) {
    await until("WebKitWebDriver to listen", 20_000, async () => (await this.wd("GET", "/status")) !== undefined);
    const created = await this.wd("POST", "/session", {
      capabilities: { alwaysMatch: { "webkitgtk:browserOptions": { binary: application, args: [] } } },
    });
    this.session = created.sessionId;
    await until('the app\'s nav (nav[aria-label="Sections"])', 60_000, () => this.find('nav[aria-label="Sections"]'));
  }

  async close() {
    if (this.session) await this.wd("DELETE", this.s("")).catch(() => {});
    this.session = null;
  }

  async find(css) {
    try {
      const el = await this.wd("POST", this.s("/element"), { using: "css selector", value: css });
      return el[ELEMENT];
    } catch (e) {
      if (e.wdError === "no such element") return null;
      throw e;
    }
  }

  script(body, args = []) {
    return this.wd("POST", this.s("/execute/sync"), { script: body, args });
  }
  click(id) {
    return this.wd("POST", this.s(`/element/${id}/click`), {});
  }
  text(id) {
    return this.wd("GET", this.s(`/element/${id}/text`));
  }
  waitForSelector(selector, timeoutMs) {
    return until(selector, timeoutMs, () => this.find(selector));
  }
  waitForTestId(testid, timeoutMs) {
    return this.waitForSelector(`[data-testid="${testid}"]`, timeoutMs);
  }

  /** One of the app's IPC commands, invoked from the page. */
  async invoke(command, args) {
    const r = await this.wd("POST", this.s("/execute/async"), {
      script: `const done = arguments[arguments.length - 1];
        window.__TAURI_INTERNALS__.invoke(arguments[0], arguments[1])
          .then((ok) => done({ ok }), (err) => done({ err }));`,
      args: [command, args],
    });
    if (r.err !== undefined) fail(`${command} failed: ${JSON.stringify(r.err)}`);
    return r.ok;
  }

  /** An API command through the app's IPC, as the UI's transport calls it. */
  apiCall(command, request) {
    return this.invoke("api_call", { command, request });
  }
}

/** WebKitWebDriver on `port` with `env` (which the app inherits), in its own process group.
 * The automation variables let Tauri's webview accept a WebDriver session. */
export function startWebDriver(port, env) {
  const driver = spawn("WebKitWebDriver", [`--port=${port}`, "--host=127.0.0.1"], {
    env: { ...env, TAURI_AUTOMATION: "true", TAURI_WEBVIEW_AUTOMATION: "true" },
    stdio: ["ignore", "ignore", "inherit"],
    detached: true, // its own process group: WebKitWebDriver, the app, its MCP server
  });
  return {
    async stop() {
      for (const signal of ["SIGTERM", "SIGKILL"]) {
        try {
          process.kill(-driver.pid, signal);
        } catch {}
        await sleep(500);
      }
    },
  };
}
