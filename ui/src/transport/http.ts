// The browser's door: POST /api/v1/{command} and SSE at /api/v1/events against `waymark serve`.
// Auth is the API token as `Authorization: Bearer` on every call, kept in this tab's
// sessionStorage (scoped to this origin, port included; it survives a reload). No cookie: a
// browser sends cookies to every port of 127.0.0.1, so any other local service could replay one.
import type { CommandName } from "../bindings/Commands";
import type { ApiEvent } from "../bindings/ApiEvent";
import { ApiFailure, type Request, type Response, type StreamState, type Subscription, type Transport } from "./types";

const TOKEN_KEY = "waymark.token";

function storedToken(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null; // storage disabled: the user signs in again on each load
  }
}

function authHeaders(): Record<string, string> {
  const token = storedToken();
  return token ? { authorization: `Bearer ${token}` } : {};
}

export class HttpTransport implements Transport {
  readonly kind = "http" as const;
  constructor(private readonly base = "") {}

  async call<C extends CommandName>(command: C, request: Request<C>): Promise<Response<C>> {
    let resp: globalThis.Response;
    try {
      resp = await fetch(`${this.base}/api/v1/${command}`, {
        method: "POST",
        credentials: "omit",
        headers: { "content-type": "application/json", ...authHeaders() },
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

  subscribe(sub: Subscription, onEvent: (e: ApiEvent) => void, onState?: (s: StreamState) => void): () => void {
    // Read over fetch (EventSource cannot send the Authorization header); a reconnect sends
    // Last-Event-ID like EventSource would, so nothing is missed; `after` only sets the start.
    const params = new URLSearchParams();
    if (sub.run !== undefined) params.set("run", String(sub.run));
    if (sub.after !== undefined) params.set("after", String(sub.after));
    const url = `${this.base}/api/v1/events?${params}`;
    let stopped = false;
    let controller: AbortController | null = null;
    let lastId: string | null = null;
    let wake: (() => void) | null = null;
    const pause = (ms: number) =>
      new Promise<void>((done) => {
        const timer = setTimeout(done, ms);
        wake = () => {
          clearTimeout(timer);
          done();
        };
      });
    const follow = async () => {
      let backoff = 500;
      onState?.("connecting");
      while (!stopped) {
        controller = new AbortController();
        try {
          const headers: Record<string, string> = { accept: "text/event-stream", ...authHeaders() };
          if (lastId !== null) headers["last-event-id"] = lastId;
          const resp = await fetch(url, { headers, credentials: "omit", cache: "no-store", signal: controller.signal });
          // A refused token or a bad request will not get better by retrying.
          if (resp.status === 401 || resp.status === 400 || resp.status === 404) {
            onState?.("closed");
            return;
          }
          if (!resp.ok || !resp.body) throw new Error(`HTTP ${resp.status}`);
          onState?.("open");
          backoff = 500;
          await readEvents(resp.body, (id, data) => {
            if (id !== null) lastId = id;
            if (!data) return;
            try {
              onEvent(JSON.parse(data) as ApiEvent);
            } catch {
              // A malformed frame is skipped; the run page sees the gap in its sequence and re-reads.
            }
          });
        } catch {
          // The server went away or the stream broke: reconnect below.
        }
        if (stopped) return;
        onState?.("reconnecting");
        await pause(backoff);
        backoff = Math.min(backoff * 2, 10_000);
      }
    };
    void follow();
    return () => {
      stopped = true;
      controller?.abort();
      (wake as (() => void) | null)?.();
      onState?.("closed");
    };
  }
}

/** Parses an SSE body: calls `frame(id, data)` for each event (id is null when it has none). */
async function readEvents(body: ReadableStream<Uint8Array>, frame: (id: string | null, data: string) => void) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let id: string | null = null;
  let data: string[] = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let newline: number;
    while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + (buffer.startsWith("\r\n", newline) ? 2 : 1));
      if (line === "") {
        if (id !== null || data.length) frame(id, data.join("\n"));
        id = null;
        data = [];
        continue;
      }
      if (line.startsWith(":")) continue; // a keep-alive comment
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "data") data.push(value);
      else if (field === "id" && !value.includes("\0")) id = value;
    }
  }
}

/** Checks the API token and keeps it for this tab; false when the server refuses it. */
export async function openSession(token: string): Promise<boolean> {
  const resp = await fetch("/api/v1/settings_get", {
    method: "POST",
    credentials: "omit",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: "{}",
  });
  if (resp.status === 401) return false;
  try {
    sessionStorage.setItem(TOKEN_KEY, token);
  } catch {
    return false;
  }
  return true;
}

/** `serve` prints `http://127.0.0.1:PORT/#token=...`: keep that token and drop it from the
 * address bar (and so from the history). Null when the address holds no token. */
export async function openSessionFromLink(): Promise<boolean | null> {
  const m = /^#token=([^&]+)/.exec(window.location.hash);
  if (!m) return null;
  const token = decodeURIComponent(m[1]);
  history.replaceState(null, "", `${window.location.pathname}#/runs`);
  return openSession(token);
}
