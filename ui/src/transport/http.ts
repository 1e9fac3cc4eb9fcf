// The browser's door: POST /api/v1/{command} and SSE at /api/v1/events against `waymark serve`.
// Auth is the HttpOnly session cookie the token link opens (see `openSessionFromLink`).
import type { CommandName } from "../bindings/Commands";
import type { Event } from "../bindings/Event";
import { ApiFailure, type Request, type Response, type StreamState, type Subscription, type Transport } from "./types";

export class HttpTransport implements Transport {
  readonly kind = "http" as const;
  constructor(private readonly base = "") {}

  async call<C extends CommandName>(command: C, request: Request<C>): Promise<Response<C>> {
    let resp: globalThis.Response;
    try {
      resp = await fetch(`${this.base}/api/v1/${command}`, {
        method: "POST",
        credentials: "same-origin",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(request ?? {}),
      });
    } catch (e) {
      throw new ApiFailure({ message: `the Waymark server cannot be reached (${String(e)})` }, "transport");
    }
    const text = await resp.text();
    let body: unknown = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      throw new ApiFailure({ message: `the server answered ${resp.status} with something that is not JSON` }, "transport");
    }
    if (!resp.ok) {
      const err = (body ?? {}) as { code?: string; message?: string; field?: string };
      throw new ApiFailure({
        code: err.code as never,
        message: err.message ?? `HTTP ${resp.status}`,
        field: err.field,
      });
    }
    return body as Response<C>;
  }

  subscribe(sub: Subscription, onEvent: (e: Event) => void, onState?: (s: StreamState) => void): () => void {
    // EventSource reconnects by itself and sends Last-Event-ID; `after` only sets the start.
    const params = new URLSearchParams();
    if (sub.run !== undefined) params.set("run", String(sub.run));
    if (sub.after !== undefined) params.set("after", String(sub.after));
    const source = new EventSource(`${this.base}/api/v1/events?${params}`, { withCredentials: true });
    onState?.("connecting");
    source.onopen = () => onState?.("open");
    source.onerror = () => onState?.(source.readyState === EventSource.CLOSED ? "closed" : "reconnecting");
    source.onmessage = (m) => {
      try {
        onEvent(JSON.parse(m.data) as Event);
      } catch {
        // A malformed frame is skipped; the next snapshot refresh repairs the view.
      }
    };
    return () => {
      source.close();
      onState?.("closed");
    };
  }
}

/** Trades the API token for the HttpOnly session cookie; false when the token is wrong. */
export async function openSession(token: string): Promise<boolean> {
  const resp = await fetch("/api/v1/session", {
    method: "POST",
    credentials: "same-origin",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ token }),
  });
  return resp.ok;
}

/** `serve` prints `http://127.0.0.1:PORT/#token=...`: open a session with that token and drop
 * it from the address bar (and so from the history). Null when the address holds no token. */
export async function openSessionFromLink(): Promise<boolean | null> {
  const m = /^#token=([^&]+)/.exec(window.location.hash);
  if (!m) return null;
  const token = decodeURIComponent(m[1]);
  history.replaceState(null, "", `${window.location.pathname}#/runs`);
  return openSession(token);
}
