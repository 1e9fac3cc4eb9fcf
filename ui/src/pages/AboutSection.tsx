// Settings: About (version, schema versions, the database, where the data lives), the
// `waymark` command for a terminal, and, in the desktop app, start at login. Also the one-line
// notice of an upgrade this start made, shown above every page until dismissed.
import { useEffect, useState } from "react";
import type { AboutResponse } from "../bindings/AboutResponse";
import { useApi } from "../lib/useApi";
import { ApiFailure, useTransport } from "../transport";
import { ErrorBanner, copyText } from "../components/common";

const TERMINAL_EXAMPLES = [
  ["waymark runs list", "the runs, newest first"],
  ["waymark run demo-support --wait", "run an agent and wait for its answer"],
  ["waymark mcp import claude_desktop_config.json", "bring MCP servers from another client"],
  ["waymark db backup ~/waymark-backup.db", "a checked copy of the database"],
] as const;

export function AboutSection() {
  const about = useApi("about", {});
  const data = about.data;
  return (
    <>
      <section aria-labelledby="set-about">
        <h2 id="set-about">About Waymark</h2>
        <ErrorBanner error={about.error} title="Could not read what this Waymark is" />
        {data ? (
          <dl className="facts card" data-testid="about">
            <dt>Version</dt>
            <dd data-testid="about-version">{data.version}</dd>
            <dt>Database schema</dt>
            <dd data-testid="about-schema">
              {data.schema_version}
              {data.catalog_schema_version !== undefined ? ` (agent catalog ${data.catalog_schema_version})` : ""}
            </dd>
            <dt>Database</dt>
            <dd>
              {data.database === "team" ? "Team database" : "This computer"}: <code>{data.database_location}</code>
            </dd>
            <dt>Data directory</dt>
            <dd>
              <code data-testid="about-data-dir">{data.data_dir}</code>
            </dd>
            {data.upgrade ? (
              <>
                <dt>Last upgrade</dt>
                <dd data-testid="about-upgrade">{upgradeText(data)}</dd>
              </>
            ) : null}
          </dl>
        ) : null}
      </section>
      {data ? <TerminalHelp cliPath={data.cli_path} /> : null}
      <StartAtLogin />
    </>
  );
}

function upgradeText(about: AboutResponse): string {
  const u = about.upgrade;
  if (!u) return "";
  const backup = u.backup ? ` A copy of the database as it was: ${u.backup}` : "";
  return `Waymark ${u.app_version} upgraded the database from schema ${u.from_schema} to ${u.to_schema} (agent catalog ${u.from_catalog} to ${u.to_catalog}).${backup}`;
}

/** Open a terminal command: the CLI the package installs beside the app, with a few commands. */
function TerminalHelp({ cliPath }: { cliPath: string | undefined }) {
  return (
    <section aria-labelledby="set-terminal">
      <h2 id="set-terminal">Use Waymark from a terminal</h2>
      {cliPath ? (
        <p className="hint" data-testid="cli-installed">
          The <code>waymark</code> command is installed at <code>{cliPath}</code>. It works on the same database as this app, while the app runs.
        </p>
      ) : (
        <p className="hint" data-testid="cli-missing">
          The <code>waymark</code> command was not found on this computer. The Waymark package installs it as <code>/usr/bin/waymark</code>; from a source checkout it is <code>target/debug/waymark</code>.
        </p>
      )}
      <ul className="card stack" style={{ listStyle: "none" }}>
        {TERMINAL_EXAMPLES.map(([command, what]) => (
          <li key={command} className="row">
            <code className="grow">{command}</code>
            <span className="hint">{what}</span>
            <button type="button" className="small" onClick={() => void copyText(command)}>
              Copy
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}

/** Desktop only: the login entry that starts the app in the tray (off until turned on). */
function StartAtLogin() {
  const transport = useTransport();
  const login = transport.startAtLogin;
  const [enabled, setEnabled] = useState<boolean | null>(null);
  const [error, setError] = useState<ApiFailure | null>(null);
  useEffect(() => {
    if (!login) return;
    login.get().then(setEnabled, (e) => setError(asFailure(e)));
  }, [login]);
  if (!login) return null;
  const change = async (next: boolean) => {
    setError(null);
    try {
      setEnabled(await login.set(next));
    } catch (e) {
      setError(asFailure(e));
    }
  };
  return (
    <section aria-labelledby="set-login">
      <h2 id="set-login">Start at login</h2>
      <ErrorBanner error={error} title="Could not change the login entry" />
      <label className="row">
        <input
          type="checkbox"
          data-testid="start-at-login"
          checked={enabled ?? false}
          disabled={enabled === null}
          onChange={(e) => void change(e.target.checked)}
        />
        Start Waymark in the tray when I log in
      </label>
      <p className="hint">The worker, cron, webhook and email triggers then run after a reboot without opening the window. The tray shows whether the worker runs, how many triggers are active and how many runs wait for you.</p>
    </section>
  );
}

function asFailure(e: unknown): ApiFailure {
  return e instanceof ApiFailure ? e : new ApiFailure({ message: String(e) });
}

/** The upgrade this start made, once, above every page (dismissed for this window's life). */
export function UpgradeNotice() {
  const transport = useTransport();
  const [about, setAbout] = useState<AboutResponse | null>(null);
  const [dismissed, setDismissed] = useState(false);
  useEffect(() => {
    transport.call("about", {}).then(setAbout, () => setAbout(null));
  }, [transport]);
  if (!about?.upgrade || dismissed) return null;
  return (
    <div className="banner info row" role="status" data-testid="upgrade-notice">
      <span className="grow">{upgradeText(about)}</span>
      <button type="button" className="small" onClick={() => setDismissed(true)}>
        Dismiss
      </button>
    </div>
  );
}
