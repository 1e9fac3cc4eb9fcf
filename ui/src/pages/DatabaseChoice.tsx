// Settings: which database this computer's Waymark uses, its own file or a team database
// (PostgreSQL). The choice is checked by connecting before it is saved, and takes effect at the
// next start; the password goes to the keychain and is never shown again.
import { useState } from "react";
import type { DatabaseSetting } from "../bindings/DatabaseSetting";
import { ApiFailure, useTransport } from "../transport";
import { ErrorBanner } from "../components/common";

const CHOSEN_BY: Record<DatabaseSetting["chosen_by"], string> = {
  environment: "chosen by --db or $WAYMARK_DB, which win over this setting",
  setting: "chosen here",
  default: "this computer's own file",
};

export function DatabaseChoice({ setting, onChanged }: { setting: DatabaseSetting; onChanged: () => void }) {
  const transport = useTransport();
  const [team, setTeam] = useState(setting.team_database !== undefined);
  const [url, setUrl] = useState(setting.team_database ?? "");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiFailure | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const trimmed = url.trim();
  const looksLikeUrl = /^postgres(ql)?:\/\/\S+$/i.test(trimmed);
  const holdsPassword = /^postgres(ql)?:\/\/[^/@]*:[^/@]*@/i.test(trimmed);
  const valid = !team || (looksLikeUrl && !holdsPassword);
  const unchanged = team ? trimmed === (setting.team_database ?? "") && password === "" : setting.team_database === undefined;

  const save = async () => {
    setBusy(true);
    setError(null);
    setSaved(null);
    try {
      const next = await transport.call("settings_set_database", team ? { team_database: trimmed, ...(password ? { password } : {}) } : {});
      setPassword("");
      setSaved(next.restart_needed ? "Saved. Waymark switches at its next start: quit and open it again." : "Saved.");
      onChanged();
    } catch (e) {
      setError(e instanceof ApiFailure ? e : new ApiFailure({ message: String(e) }));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="set-database">
      <h2 id="set-database">Database</h2>
      <p className="hint">
        Runs, agents and MCP servers live in one database: this computer&apos;s own file, or a team database (PostgreSQL) shared with other machines, whose workers then run the same runs. Secret values always stay on each computer. To bring this computer&apos;s work along, run <code>waymark db copy --to postgres://…</code> once.
      </p>
      <dl className="facts card">
        <dt>In use now</dt>
        <dd>
          <span data-testid="database-in-use">{setting.in_use === "team" ? "Team database" : "This computer"}</span>: <code data-testid="database-location">{setting.location}</code> ({CHOSEN_BY[setting.chosen_by]})
        </dd>
      </dl>
      <form
        className="card stack"
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
      >
        <fieldset className="row wrap">
          <legend>Database for the next start</legend>
          <label>
            <input type="radio" name="database" checked={!team} onChange={() => setTeam(false)} data-testid="database-this-computer" /> This computer
          </label>
          <label>
            <input type="radio" name="database" checked={team} onChange={() => setTeam(true)} data-testid="database-team" /> Team database (PostgreSQL)
          </label>
        </fieldset>
        {team ? (
          <>
            <label className="grow">
              URL
              <input
                type="text"
                spellCheck={false}
                placeholder="postgres://waymark@db.internal:5432/waymark?sslmode=verify-full"
                value={url}
                onChange={(e) => setUrl(e.target.value)}
                aria-invalid={!valid}
                data-testid="database-url"
              />
            </label>
            {holdsPassword ? <p className="hint error">Leave the password out of the URL (it would be stored and shown): give it below.</p> : null}
            <label>
              Password {setting.team_database ? "(empty: keep the stored one)" : "(kept in this computer's keychain)"}
              <input type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} data-testid="database-password" />
            </label>
          </>
        ) : null}
        <div className="row">
          <button type="submit" className="primary" disabled={busy || !valid || unchanged} data-testid="save-database">
            {busy ? "Connecting…" : team ? "Connect and save" : "Save"}
          </button>
        </div>
        {saved ? (
          <p className="hint" role="status" data-testid="database-saved">
            {saved}
          </p>
        ) : null}
        {setting.restart_needed && !saved ? <p className="hint">The next start uses {setting.team_database ?? "this computer's file"}.</p> : null}
      </form>
      <ErrorBanner error={error} title="Not saved" />
    </section>
  );
}
