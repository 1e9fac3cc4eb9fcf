// A call by hand as it happens: `mcp_call_start`, then `mcp_call_status` long-polled with the
// last version seen until the call ends; a server's question answered in place
// (`mcp_call_answer`), Cancel sent on the wire (`mcp_call_cancel`). Following stops when the
// component unmounts; the call itself goes on in the server until it ends or is cancelled.
import { useCallback, useEffect, useRef, useState } from "react";
import type { ElicitationAnswer } from "../bindings/ElicitationAnswer";
import type { HandCallState } from "../bindings/HandCallState";
import type { McpCallStatus } from "../bindings/McpCallStatus";
import type { JsonValue } from "../bindings/serde_json/JsonValue";
import { ApiFailure, useTransport } from "../transport";

/** How long one status request waits for news (the server allows 30 s). */
const WAIT_MS = 25_000;
/** Status requests that fail in a row before following gives up. */
const MAX_FAILURES = 5;

export type HandCall = {
  sent: JsonValue;
  unchecked: boolean;
  /** Date.now() when the call was sent, and when it was seen to end. */
  startedAt: number;
  endedAt: number | null;
  callId: string | null;
  /** The newest status read. */
  status: McpCallStatus | null;
  /** `mcp_call_start` refused the call: the arguments, the server, too many calls. */
  refused: ApiFailure | null;
  /** Following the call failed (Waymark restarted, the network): how it ended is unknown. */
  lost: ApiFailure | null;
  cancelling: boolean;
  cancelError: ApiFailure | null;
};

const ENDED: readonly HandCallState[] = ["succeeded", "failed", "cancelled"];

export function hasEnded(state: HandCallState): boolean {
  return ENDED.includes(state);
}

/** Whether the call may still change (sent, running or asking, and still followed). */
export function isLive(call: HandCall | null): boolean {
  return !!call && !call.refused && !call.lost && call.endedAt === null;
}

function toFailure(e: unknown): ApiFailure {
  return e instanceof ApiFailure ? e : new ApiFailure({ message: String(e) });
}

export function useHandCall(server: string, tool: string) {
  const transport = useTransport();
  const [call, setCall] = useState<HandCall | null>(null);
  // Counts calls: news of an older call (or after unmounting) is dropped.
  const seq = useRef(0);
  useEffect(
    () => () => {
      seq.current++;
    },
    [],
  );

  const follow = useCallback(
    async (mine: number, callId: string) => {
      let seen: number | undefined;
      let failures = 0;
      while (seq.current === mine) {
        try {
          const status = await transport.call("mcp_call_status", seen === undefined ? { call_id: callId } : { call_id: callId, seen, wait_ms: WAIT_MS });
          if (seq.current !== mine) return;
          failures = 0;
          seen = status.version;
          const ended = hasEnded(status.state);
          setCall((c) => (c && c.callId === callId && (!c.status || c.status.version <= status.version) ? { ...c, status, endedAt: ended ? Date.now() : null } : c));
          if (ended) return;
        } catch (e) {
          if (seq.current !== mine) return;
          const f = toFailure(e);
          // Calls are kept only while the server's process runs: a restart forgets them.
          if (f.code === "not_found" || ++failures >= MAX_FAILURES) {
            setCall((c) => (c && c.callId === callId ? { ...c, lost: f } : c));
            return;
          }
          await new Promise((r) => setTimeout(r, 500 * failures));
        }
      }
    },
    [transport],
  );

  const start = useCallback(
    async (sent: JsonValue, unchecked: boolean): Promise<HandCall["refused"]> => {
      const mine = ++seq.current;
      setCall({ sent, unchecked, startedAt: Date.now(), endedAt: null, callId: null, status: null, refused: null, lost: null, cancelling: false, cancelError: null });
      try {
        const { call_id } = await transport.call("mcp_call_start", { server, tool, arguments: sent, unchecked: unchecked || undefined });
        if (seq.current !== mine) return null;
        setCall((c) => (c ? { ...c, callId: call_id } : c));
        void follow(mine, call_id);
        return null;
      } catch (e) {
        const f = toFailure(e);
        if (seq.current === mine) setCall((c) => (c ? { ...c, refused: f, endedAt: Date.now() } : c));
        return f;
      }
    },
    [transport, server, tool, follow],
  );

  const cancel = useCallback(async () => {
    const id = call?.callId;
    if (!id) return;
    setCall((c) => (c && c.callId === id ? { ...c, cancelling: true, cancelError: null } : c));
    try {
      await transport.call("mcp_call_cancel", { call_id: id });
    } catch (e) {
      // A call that ended meanwhile refuses (conflict): its status says how it ended.
      const f = toFailure(e);
      setCall((c) => (c && c.callId === id ? { ...c, cancelling: false, cancelError: f.code === "conflict" ? null : f } : c));
    }
  }, [transport, call?.callId]);

  /** Answers the question the call waits on; throws the server's refusal (shown in place). */
  const answer = useCallback(
    async (questionId: string, action: ElicitationAnswer, content?: Record<string, JsonValue>) => {
      const id = call?.callId;
      if (!id) return;
      await transport.call("mcp_call_answer", { call_id: id, question_id: questionId, action, content });
    },
    [transport, call?.callId],
  );

  /** Forgets a call that has ended (the form's Reset). */
  const clear = useCallback(() => {
    setCall((c) => (isLive(c) ? c : null));
  }, []);

  return { call, start, cancel, answer, clear };
}
