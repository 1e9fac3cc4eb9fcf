// Start a run of a saved agent with an input; on success the app opens the new run.
import { useEffect, useRef, useState } from "react";
import { Modal, ErrorBanner } from "./common";
import { useTransport, ApiFailure } from "../transport";
import { navigate, href } from "../lib/router";
import type { RunAttachment } from "../bindings/RunAttachment";
import { AttachList } from "../tools/AttachPicker";

export function StartRunDialog({
  agents,
  initialAgent,
  initialInput = "",
  onClose,
}: {
  agents: string[];
  initialAgent?: string;
  initialInput?: string;
  onClose: () => void;
}) {
  const transport = useTransport();
  const [agent, setAgent] = useState(initialAgent ?? agents[0] ?? "");
  const [input, setInput] = useState(initialInput);
  // A suggested input that arrives after the dialog opened fills it, until the user types.
  const typed = useRef(false);
  useEffect(() => {
    if (!typed.current) setInput(initialInput);
  }, [initialInput]);
  const [attach, setAttach] = useState<RunAttachment[]>([]);
  const [error, setError] = useState<ApiFailure | null>(null);
  const [pending, setPending] = useState(false);
  const start = async () => {
    setPending(true);
    try {
      const { run_id } = await transport.call("runs_start", attach.length ? { agent, input, attach } : { agent, input });
      onClose();
      navigate(href(["runs", run_id]));
    } catch (e) {
      setError(e instanceof ApiFailure ? e : new ApiFailure({ message: String(e) }));
    } finally {
      setPending(false);
    }
  };
  return (
    <Modal title="Start a run" onClose={onClose}>
      <form
        className="stack"
        onSubmit={(e) => {
          e.preventDefault();
          void start();
        }}
      >
        <label>
          Agent
          <select value={agent} onChange={(e) => setAgent(e.target.value)} data-testid="start-run-agent">
            {agents.map((a) => (
              <option key={a} value={a}>
                {a}
              </option>
            ))}
          </select>
        </label>
        <label>
          Input
          <span className="hint">What the agent is asked to do (its first user message).</span>
          <textarea
            rows={5}
            value={input}
            onChange={(e) => {
              typed.current = true;
              setInput(e.target.value);
            }}
            data-testid="start-run-input"
            aria-invalid={error?.field === "input"}
          />
        </label>
        <AttachList value={attach} onChange={setAttach} />
        <ErrorBanner error={error} />
        <div className="row">
          <div className="grow" />
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button className="primary" type="submit" disabled={!agent || pending} data-testid="start-run-submit">
            {pending ? "Starting…" : "Start run"}
          </button>
        </div>
      </form>
    </Modal>
  );
}
