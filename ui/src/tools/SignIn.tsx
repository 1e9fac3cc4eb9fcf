// Signing in to an HTTP server that asks for OAuth. `mcp_sign_in_start` gives the authorization
// URL, which is opened in the system browser (the desktop app's `open_external` command; in the
// browser door, a new window); `mcp_sign_in_finish` then waits for the browser's
// redirect to the host. The UI never sees a token, only the state: signed in (issuer, expiry,
// refreshed or not), required (why), or waiting (the URL, to open again).
import { createContext, useCallback, useContext, useEffect, useRef, useState, type MouseEvent, type ReactNode } from "react";
import { ExternalLink, LogIn, LogOut } from "lucide-react";
import type { McpServerInfo } from "../bindings/McpServerInfo";
import type { SignInState } from "../bindings/SignInState";
import { ApiFailure, useTransport, type Transport } from "../transport";
import { ErrorBanner, Status } from "../components/common";

/** Opens `url` in a new browser window, not handing it this window (`opener`); false when a
 * pop-up blocker refused. The web's own way, for the browser door; the waiting line always
 * offers the URL as a link too. */
export function openInBrowser(url: string): boolean {
  const w = window.open(url, "_blank");
  if (!w) return false;
  try {
    w.opener = null;
  } catch {
    /* a cross-origin window already: nothing to cut */
  }
  return true;
}

/** Opens the sign-in page: in the system browser when the transport can (the desktop app, whose
 * webview keeps `window.open` to itself), else in a new browser window (opened before any
 * `await`, so a pop-up blocker sees the click's own call). Resolves to null once opened, else
 * to why not. */
export function openSignInPage(transport: Transport, url: string): Promise<string | null> {
  if (transport.openExternal)
    return transport.openExternal(url).then(
      () => null,
      (e: unknown) => `The system browser could not be opened (${failure(e).message}): open the page yourself.`,
    );
  return Promise.resolve(openInBrowser(url) ? null : "The browser did not open a window (a pop-up blocker?): use the link above.");
}

type Flow =
  | { step: "idle" }
  | { step: "starting" }
  /** `blocked`: why the page did not open, if it did not. */
  | { step: "waiting"; url: string; blocked: string | null }
  | { step: "failed"; error: ApiFailure };

export type SignInFlow = {
  server: string;
  flow: Flow;
  /** The person pressed Cancel: a wait the host still reports is not shown as waiting. */
  dismissed: boolean;
  start: () => void;
  cancel: () => void;
  signOut: () => Promise<void>;
  signingOut: boolean;
  signOutError: ApiFailure | null;
};

function failure(e: unknown): ApiFailure {
  return e instanceof ApiFailure ? e : new ApiFailure({ message: String(e) });
}

/** The sign-in of one server: start (open the page, wait for the redirect), cancel, sign out.
 * `onDone(true)` runs once the host has the tokens (or forgot them), `onDone(false)` when a
 * sign-in failed: the state to show changed either way. */
export function useSignInFlow(server: string, onDone: (changed: boolean) => void): SignInFlow {
  const transport = useTransport();
  const [flow, setFlow] = useState<Flow>({ step: "idle" });
  const [dismissed, setDismissed] = useState(false);
  const [signingOut, setSigningOut] = useState(false);
  const [signOutError, setSignOutError] = useState<ApiFailure | null>(null);
  // Each start (and each cancel) makes the answers of earlier ones stale.
  const generation = useRef(0);
  const doneRef = useRef(onDone);
  doneRef.current = onDone;
  useEffect(
    () => () => {
      generation.current++;
    },
    [],
  );

  const start = useCallback(() => {
    const gen = ++generation.current;
    setDismissed(false);
    setSignOutError(null);
    setFlow({ step: "starting" });
    void (async () => {
      try {
        const started = await transport.call("mcp_sign_in_start", { server });
        if (gen !== generation.current) return;
        const opening = openSignInPage(transport, started.url);
        setFlow({ step: "waiting", url: started.url, blocked: null });
        // Not awaited before the wait: the host keeps the browser's answer for the finish.
        void opening.then((blocked) => {
          if (blocked && gen === generation.current)
            setFlow((f) => (f.step === "waiting" && f.url === started.url ? { ...f, blocked } : f));
        });
        await transport.call("mcp_sign_in_finish", { sign_in_id: started.sign_in_id });
        if (gen !== generation.current) return;
        setFlow({ step: "idle" });
        doneRef.current(true);
      } catch (e) {
        if (gen !== generation.current) return;
        setFlow({ step: "failed", error: failure(e) });
        doneRef.current(false);
      }
    })();
  }, [transport, server]);

  const cancel = useCallback(() => {
    generation.current++;
    setDismissed(true);
    setFlow({ step: "idle" });
  }, []);

  const signOut = useCallback(async () => {
    generation.current++;
    setFlow({ step: "idle" });
    setSigningOut(true);
    setSignOutError(null);
    try {
      await transport.call("mcp_sign_out", { server });
      doneRef.current(true);
    } catch (e) {
      setSignOutError(failure(e));
    } finally {
      setSigningOut(false);
    }
  }, [transport, server]);

  return { server, flow, dismissed, start, cancel, signOut, signingOut, signOutError };
}

const SignInContext = createContext<SignInFlow | null>(null);

export function SignInProvider({ flow, children }: { flow: SignInFlow; children: ReactNode }) {
  return <SignInContext.Provider value={flow}>{children}</SignInContext.Provider>;
}

/** "in 12 min", "in 3 h", or null once past. */
function expiresIn(at: number, now: number): string | null {
  const left = at - now;
  if (left <= 0) return null;
  const min = Math.floor(left / 60_000);
  if (min < 1) return "in under a minute";
  if (min < 120) return `in ${min} min`;
  return `in ${Math.round(min / 60)} h`;
}

/** Re-renders every `ms` while mounted (for "expires in"). */
function useNow(ms: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = window.setInterval(() => setNow(Date.now()), ms);
    return () => window.clearInterval(t);
  }, [ms]);
  return now;
}

function SignedInLine({ state, flow }: { state: Extract<SignInState, { state: "signed_in" }>; flow: SignInFlow }) {
  const now = useNow(30_000);
  const left = state.expires_at_ms != null ? expiresIn(state.expires_at_ms, now) : null;
  const parts: string[] = [];
  if (state.expires_at_ms != null) parts.push(left ? `expires ${left}` : "expired");
  parts.push(state.refreshable ? (left || state.expires_at_ms == null ? "refreshed automatically" : "refreshed when next used") : "sign in again when it expires");
  return (
    <div className="row tools-wrap sign-in-line" data-testid="sign-in" data-state="signed_in">
      <Status status="ok" label={state.issuer ? `Signed in (${state.issuer})` : "Signed in"} />
      <span className="hint">{parts.join(" · ")}</span>
      {state.scopes.length ? (
        <span className="hint" title="The scopes granted">
          scopes: <span className="mono">{state.scopes.join(" ")}</span>
        </span>
      ) : null}
      <button type="button" className="small" onClick={() => void flow.signOut()} disabled={flow.signingOut} title="Forget this server's tokens (they leave the keychain)">
        <LogOut size={14} aria-hidden /> {flow.signingOut ? "Signing out…" : "Sign out"}
      </button>
    </div>
  );
}

function WaitingLine({ url, blocked, flow }: { url: string; blocked: string | null; flow: SignInFlow }) {
  const transport = useTransport();
  const [reopenError, setReopenError] = useState<string | null>(null);
  // The desktop app's webview opens no window for a link: the system browser it is, as at the start.
  const reopen = transport.openExternal
    ? (e: MouseEvent<HTMLAnchorElement>) => {
        e.preventDefault();
        setReopenError(null);
        void openSignInPage(transport, url).then(setReopenError);
      }
    : undefined;
  const why = reopenError ?? blocked;
  return (
    <div className="stack sign-in-waiting" data-testid="sign-in" data-state="waiting">
      <div className="row tools-wrap sign-in-line" role="status">
        <Status status="waiting" label="Waiting for sign-in in your browser…" />
        <span className="hint">
          (
          <a href={url} target="_blank" rel="noopener noreferrer" onClick={reopen} data-testid="sign-in-reopen">
            Open the page again <ExternalLink size={11} aria-hidden />
          </a>
          )
        </span>
        <button type="button" className="small" onClick={flow.cancel} title="Stop waiting here (the page in the browser is not closed)">
          Cancel
        </button>
      </div>
      {why ? (
        <span className="hint" role="alert">
          {why}
          {transport.openExternal ? (
            <>
              {" "}
              <span className="mono" style={{ wordBreak: "break-all", userSelect: "all" }}>
                {url}
              </span>
            </>
          ) : null}
        </span>
      ) : null}
    </div>
  );
}

/** The sign-in state of an HTTP server, with its action: in the server's header. */
export function SignInPanel({ server, flow }: { server: McpServerInfo; flow: SignInFlow }) {
  if (server.transport !== "http") return null;
  const s = server.sign_in;
  const f = flow.flow;
  const body = (() => {
    if (f.step === "waiting") return <WaitingLine url={f.url} blocked={f.blocked} flow={flow} />;
    if (f.step === "starting")
      return (
        <div className="row tools-wrap sign-in-line" data-testid="sign-in" data-state="starting" role="status">
          <Status status="waiting" label="Starting the sign-in…" />
        </div>
      );
    switch (s.state) {
      case "signed_in":
        return <SignedInLine state={s} flow={flow} />;
      case "waiting":
        // Started elsewhere (another window, `waymark mcp login`), or before Cancel.
        if (!flow.dismissed) return <WaitingLine url={s.url} blocked={null} flow={flow} />;
        return <RequiredLine reason="the sign-in was not finished" flow={flow} />;
      case "required":
        return <RequiredLine reason={s.reason} flow={flow} />;
      default:
        return null;
    }
  })();
  return (
    <>
      {body}
      {f.step === "failed" ? <ErrorBanner error={f.error} title="The sign-in did not complete" /> : null}
      <ErrorBanner error={flow.signOutError} title="Could not sign out" />
    </>
  );
}

function RequiredLine({ reason, flow }: { reason: string; flow: SignInFlow }) {
  return (
    <div className="row tools-wrap sign-in-line" data-testid="sign-in" data-state="required">
      <Status status="needs_attention" label="Sign-in required:" />
      <span className="sign-in-reason">{reason}</span>
      <SignInButton flow={flow} primary />
    </div>
  );
}

function SignInButton({ flow, primary }: { flow: SignInFlow; primary?: boolean }) {
  const busy = flow.flow.step === "starting" || flow.flow.step === "waiting";
  return (
    <button type="button" className={`small${primary ? " primary" : ""}`} onClick={flow.start} disabled={busy} title="Open the server's sign-in page in your browser">
      <LogIn size={14} aria-hidden /> {flow.flow.step === "waiting" ? "Waiting for the browser…" : flow.flow.step === "starting" ? "Starting…" : "Sign in"}
    </button>
  );
}

/** The "Sign in" action next to an error whose code is `sign_in_required` (tools list,
 * try-it), sharing the server's sign-in. Nothing outside a server's view. */
export function SignInAction() {
  const flow = useContext(SignInContext);
  if (!flow) return null;
  return (
    <div className="row tools-wrap sign-in-action">
      <SignInButton flow={flow} primary />
      {flow.flow.step === "waiting" ? <span className="hint">finish it in the browser, then try again</span> : null}
    </div>
  );
}

/** Whether the sign-in explains why the server cannot connect (its error need not be repeated). */
export function signInExplainsFailure(server: McpServerInfo): boolean {
  return server.transport === "http" && (server.sign_in.state === "required" || server.sign_in.state === "waiting");
}

/** A word for the servers list: where the sign-in stands, when it matters. */
export function SignInHint({ server }: { server: McpServerInfo }) {
  if (server.transport !== "http") return null;
  switch (server.sign_in.state) {
    case "required":
      return <Status status="needs_attention" label="sign-in required" />;
    case "waiting":
      return <Status status="waiting" label="waiting for sign-in" />;
    case "signed_in":
      return <span className="hint sign-in-hint">signed in{server.sign_in.issuer ? ` (${hostOf(server.sign_in.issuer)})` : ""}</span>;
    default:
      return null;
  }
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}
