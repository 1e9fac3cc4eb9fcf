import { useState } from "react";

/** Shown when the browser has no session: the token link `waymark serve` printed opens one. */
export function SignIn({ refused, onSignedIn }: { refused: boolean; onSignedIn: () => void }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState<string | null>(refused ? "That link's token was not accepted." : null);
  const submit = async () => {
    const resp = await fetch("/api/v1/session", {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token: token.trim() }),
    });
    if (resp.ok) onSignedIn();
    else setError("Wrong token.");
  };
  return (
    <div className="page" style={{ maxWidth: 520, margin: "10vh auto" }}>
      <h1>Sign in to Waymark</h1>
      <p className="muted">
        Open the link <code>waymark serve</code> printed (it ends in <code>#token=…</code>), or paste the token from
        the file it names.
      </p>
      <form
        className="stack"
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <label>
          Token
          <input value={token} onChange={(e) => setToken(e.target.value)} autoFocus aria-invalid={!!error} />
        </label>
        {error ? <div className="field-error">{error}</div> : null}
        <button className="primary" type="submit" disabled={!token.trim()}>
          Sign in
        </button>
      </form>
    </div>
  );
}
