import { useState } from "react";
import { openSession } from "../transport/http";

/** Shown when the browser has no session: the token link `waymark serve` printed opens one. */
export function SignIn({ refused, onSignedIn }: { refused: boolean; onSignedIn: () => void }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState<string | null>(refused ? "That link's token was not accepted." : null);
  const submit = async () => {
    if (await openSession(token.trim())) onSignedIn();
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
