// The one transport interface: typed only by the generated bindings (ui/src/bindings).
import type { Commands, CommandName } from "../bindings/Commands";
import type { ApiEvent } from "../bindings/ApiEvent";
import type { ApiError } from "../bindings/ApiError";
import type { RunId } from "../bindings/RunId";

export type Request<C extends CommandName> = Commands[C]["request"];
export type Response<C extends CommandName> = Commands[C]["response"];

/** What to follow: one run's events, or the whole database's. */
export type Subscription = {
  run?: RunId;
  /** Deliver only events after this sequence number (the run's, or the global one). */
  after?: number;
};

export type StreamState = "connecting" | "open" | "reconnecting" | "closed";

export interface Transport {
  /** Which door this is: the desktop app's IPC or the HTTP server. */
  readonly kind: "tauri" | "http";
  call<C extends CommandName>(command: C, request: Request<C>): Promise<Response<C>>;
  /** Follows events; returns the function that stops following. Reconnects by itself. */
  subscribe(
    sub: Subscription,
    onEvent: (event: ApiEvent) => void,
    onState?: (state: StreamState) => void,
  ): () => void;
  /** Opens an http(s) page in the system browser (the desktop app, whose webview keeps
   * `window.open` inside itself). Absent in the browser: `window.open` is the way there. */
  openExternal?(url: string): Promise<void>;
  /** The desktop app's login entry (start at login, in the tray). Absent in the browser. */
  readonly startAtLogin?: StartAtLogin;
}

export interface StartAtLogin {
  get(): Promise<boolean>;
  /** Writes or deletes the entry; resolves to the state after. */
  set(enabled: boolean): Promise<boolean>;
}

/** An API error as thrown by `call`: the server's code, message and field at fault. */
export class ApiFailure extends Error {
  readonly code: ApiError["code"] | "transport";
  readonly field: string | null;
  constructor(error: Partial<ApiError> & { message: string }, code?: ApiError["code"] | "transport") {
    super(error.message);
    this.code = code ?? (error.code as ApiError["code"]) ?? "transport";
    this.field = error.field ?? null;
  }
}
