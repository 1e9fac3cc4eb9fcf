// The desktop door: one IPC command per API call (`api_call`, dispatched by name through the same
// command list as the HTTP routes), a Channel per event subscription, and `open_external` for
// pages that belong in the system browser (sign-ins), and the login entry (start at login).
import { Channel, invoke } from "@tauri-apps/api/core";
import type { CommandName } from "../bindings/Commands";
import type { ApiEvent } from "../bindings/ApiEvent";
import type { ApiError } from "../bindings/ApiError";
import { ApiFailure, type Request, type Response, type StreamState, type Subscription, type Transport } from "./types";

export class TauriTransport implements Transport {
  readonly kind = "tauri" as const;

  readonly startAtLogin = {
    get: () => invoke<boolean>("start_at_login_get").catch((e) => Promise.reject(failure(e))),
    set: (enabled: boolean) => invoke<boolean>("start_at_login_set", { enabled }).catch((e) => Promise.reject(failure(e))),
  };

  async call<C extends CommandName>(command: C, request: Request<C>): Promise<Response<C>> {
    try {
      return await invoke<Response<C>>("api_call", { command, request: request ?? {} });
    } catch (e) {
      throw failure(e);
    }
  }

  /** The app's `open_external` command: `$BROWSER`, else the platform's opener. */
  async openExternal(url: string): Promise<void> {
    try {
      await invoke("open_external", { url });
    } catch (e) {
      throw failure(e);
    }
  }

  subscribe(sub: Subscription, onEvent: (e: ApiEvent) => void, onState?: (s: StreamState) => void): () => void {
    const channel = new Channel<ApiEvent>();
    let last = sub.after;
    let closed = false;
    let id: number | null = null;
    channel.onmessage = (e) => {
      last = sub.run !== undefined ? (e.run_seq ?? last) : e.global_seq;
      onEvent(e);
    };
    onState?.("connecting");
    invoke<number>("events_subscribe", { run: sub.run ?? null, after: last ?? null, onEvent: channel })
      .then((sid) => {
        id = sid;
        if (closed) void invoke("events_unsubscribe", { id: sid });
        else onState?.("open");
      })
      .catch(() => onState?.("closed"));
    return () => {
      closed = true;
      if (id !== null) void invoke("events_unsubscribe", { id });
      onState?.("closed");
    };
  }
}

/** What a command rejected with (an `ApiError`, or whatever Tauri says) as an ApiFailure. */
function failure(e: unknown): ApiFailure {
  const err = (typeof e === "object" && e !== null ? e : { message: String(e) }) as Partial<ApiError>;
  return new ApiFailure({ code: err.code, message: err.message ?? String(e), field: err.field });
}

export function inTauri(): boolean {
  return typeof window !== "undefined" && "__TAURI_INTERNALS__" in window;
}
