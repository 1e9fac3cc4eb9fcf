// The runs list: status chips, search, paging, Start run; re-read every 1.5 s while visible.
// Running runs show "retrying" while one of their steps waits to retry, and "waiting" while a
// server's question asked inside an open call waits for a person (from their events).
import { useEffect, useMemo, useRef, useState } from "react";
import { Play, Search } from "lucide-react";
import type { RunStatus } from "../bindings/RunStatus";
import type { RunSummary } from "../bindings/RunSummary";
import type { StepView } from "../bindings/StepView";
import { isOpenQuestion } from "../run/elicitation";
import { isOpenSamplingApproval } from "../run/sampling";
import { useTransport } from "../transport";
import { useApi } from "../lib/useApi";
import { href, navigate } from "../lib/router";
import { EmptyState, ErrorBanner, formatDuration } from "../components/common";
import { StartRunDialog } from "../components/StartRunDialog";
import { useDemo } from "../agents/demo";
import "../run/run.css";

const STATUSES: RunStatus[] = ["running", "waiting", "needs_attention", "queued", "succeeded", "failed", "cancelled"];
const PAGE = 50;

export function RunsPage({ query }: { query: URLSearchParams }) {
  const status = (query.get("status") as RunStatus | null) || undefined;
  const search = query.get("q") ?? "";
  const offset = Number(query.get("offset") ?? 0) || 0;
  const [text, setText] = useState(search);
  useEffect(() => setText(search), [search]);
  const setQuery = (patch: Record<string, string | number | undefined>) => {
    const next = { status, q: search || undefined, offset: offset || undefined, ...patch };
    navigate(href(["runs"], next), true);
  };
  // Debounced search into the URL.
  useEffect(() => {
    if (text === search) return;
    const t = setTimeout(() => setQuery({ q: text || undefined, offset: undefined }), 250);
    return () => clearTimeout(t);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [text]);

  const runs = useApi("runs_list", { status, search: search || undefined, include_children: false, offset, limit: PAGE }, [status, search, offset]);
  const agents = useApi("agents_list", {});
  const demo = useDemo();
  const [starting, setStarting] = useState<null | { agent?: string; input?: string }>(null);

  // Live refresh: re-query on a 1.5 s timer while the page is visible.
  const reload = runs.reload;
  useEffect(() => {
    const t = setInterval(() => {
      if (document.visibilityState === "visible") void reload();
    }, 1500);
    return () => clearInterval(t);
  }, [reload]);

  const list = runs.data?.runs ?? [];
  const { retrying, asking } = useStepFlags(list);
  const agentNames = (agents.data?.agents ?? []).map((a) => a.name);
  const filtered = !!status || !!search;
  const [anyRuns, setAnyRuns] = useState<boolean | null>(null);
  useEffect(() => {
    if (runs.data && !filtered) setAnyRuns(runs.data.runs.length > 0 || offset > 0);
  }, [runs.data, filtered, offset]);

  return (
    <div className="page">
      <div className="row">
        <h1 className="grow">Runs</h1>
        <button type="button" className="primary" onClick={() => setStarting({})} data-testid="start-run" disabled={!agents.data}>
          <Play size={14} aria-hidden /> Start run
        </button>
      </div>
      <div className="runs-toolbar">
        <div className="chips" role="group" aria-label="Filter by status">
          <button type="button" className="chip" aria-pressed={!status} onClick={() => setQuery({ status: undefined, offset: undefined })}>
            All
          </button>
          {STATUSES.map((s) => (
            <button key={s} type="button" className="chip" aria-pressed={status === s} onClick={() => setQuery({ status: status === s ? undefined : s, offset: undefined })} data-testid={`status-chip-${s}`}>
              {s.replace("_", " ")}
            </button>
          ))}
        </div>
        <label className="row search">
          <Search size={14} aria-hidden />
          <span className="sr-only">Search runs</span>
          <input type="search" placeholder="Search input or agent" value={text} onChange={(e) => setText(e.target.value)} aria-label="Search runs" data-testid="runs-search" />
        </label>
      </div>
      <ErrorBanner error={runs.error} />
      <ErrorBanner error={agents.error} title="Agents" />
      {runs.data && list.length === 0 ? (
        filtered ? (
          <EmptyState action={<button onClick={() => navigate(href(["runs"]), true)}>Clear filters</button>}>No run matches these filters.</EmptyState>
        ) : anyRuns === false || offset === 0 ? (
          <EmptyState
            action={
              demo ? (
                <button type="button" className="primary" onClick={() => setStarting({ agent: demo.agent, input: demo.input })} data-testid="run-demo">
                  <Play size={14} aria-hidden /> Run the demo agent
                </button>
              ) : undefined
            }
          >
            No runs yet. The demo support agent looks up an order, retries a flaky tool, and asks you to approve an email.
          </EmptyState>
        ) : (
          <EmptyState>No more runs.</EmptyState>
        )
      ) : null}
      {list.length > 0 ? (
        <table className="list runs-table">
          <thead>
            <tr>
              <th>Agent</th>
              <th>Status</th>
              <th>Input</th>
              <th className="num">Steps</th>
              <th className="num">Duration</th>
              <th>Started</th>
            </tr>
          </thead>
          <tbody>
            {list.map((r) => (
              <RunRow key={r.id} run={r} retrying={retrying.has(r.id)} asking={asking.has(r.id)} />
            ))}
          </tbody>
        </table>
      ) : null}
      {list.length > 0 || offset > 0 ? (
        <nav className="pager" aria-label="Pages">
          <span className="muted">
            {list.length ? `${offset + 1}–${offset + list.length}` : ""}
          </span>
          <button type="button" disabled={offset === 0} onClick={() => setQuery({ offset: Math.max(0, offset - PAGE) || undefined })}>
            Newer
          </button>
          <button type="button" disabled={!runs.data?.more} onClick={() => setQuery({ offset: offset + PAGE })}>
            Older
          </button>
        </nav>
      ) : null}
      {starting ? (
        <StartRunDialog agents={agentNames} initialAgent={starting.agent} initialInput={starting.input} onClose={() => setStarting(null)} />
      ) : null}
    </div>
  );
}

function RunRow({ run, retrying, asking }: { run: RunSummary; retrying: boolean; asking: boolean }) {
  // A question asked inside an open call leaves the run `running`, yet it waits for a person.
  const shown = (run.status === "running" || run.status === "waiting") && retrying ? "retrying" : run.status === "running" && asking ? "waiting" : run.status;
  const link = href(["runs", run.id]);
  const dur = (run.finished_at ?? Date.now()) - run.created_at;
  return (
    <tr
      className="clickable"
      onClick={(e) => {
        if (!(e.target as HTMLElement).closest("a")) navigate(link);
      }}
    >
      <td>
        <a className="row-link" href={link} data-testid="run-row">
          {run.agent}
        </a>
        {run.forked_from ? <span className="badge" title={`forked from ${run.forked_from}`}>fork</span> : null}
      </td>
      <td>
        <span className={`status ${shown}`} data-status={shown} title={asking ? "A server's question waits for your answer" : undefined}>
          {shown === "needs_attention" ? "needs attention" : shown}
        </span>
      </td>
      <td className="preview" title={run.input_preview}>
        <a href={link} tabIndex={-1} className="muted">
          {run.input_preview || "–"}
        </a>
      </td>
      <td className="num">{run.step_count.toLocaleString()}</td>
      <td className="num">{formatDuration(dur)}</td>
      <td className="muted">{new Date(run.created_at).toLocaleString()}</td>
    </tr>
  );
}

type Flags = { retrying: Set<string>; asking: Set<string> };

/** Which of the listed running or waiting runs have a step waiting to retry, or a server's
 * question waiting for a person: followed through their events (at most 3 streams, small runs
 * only: browsers allow few connections per server). */
function useStepFlags(list: RunSummary[]): Flags {
  const transport = useTransport();
  const [flags, setFlags] = useState<Flags>({ retrying: new Set(), asking: new Set() });
  const watched = useMemo(
    () =>
      list
        .filter((r) => (r.status === "running" || r.status === "waiting") && r.step_count < 300)
        .slice(0, 3)
        .map((r) => r.id)
        .join(","),
    [list],
  );
  const state = useRef(new Map<string, Map<string, StepView>>());
  useEffect(() => {
    if (!watched) return;
    const ids = watched.split(",");
    const stops = ids.map((id) => {
      const steps = new Map<string, StepView>();
      state.current.set(id, steps);
      return transport.subscribe({ run: id }, (e) => {
        // Every step change carries the step's new view.
        if (!e.step) return;
        steps.set(e.step.key, e.step);
        const views = [...steps.values()];
        const now = { retrying: views.some((s) => s.status === "retrying"), asking: views.some((s) => isOpenQuestion(s) || isOpenSamplingApproval(s)) };
        setFlags((prev) => {
          if (prev.retrying.has(id) === now.retrying && prev.asking.has(id) === now.asking) return prev;
          const set = (old: Set<string>, on: boolean) => {
            const next = new Set(old);
            if (on) next.add(id);
            else next.delete(id);
            return next;
          };
          return { retrying: set(prev.retrying, now.retrying), asking: set(prev.asking, now.asking) };
        });
      });
    });
    return () => stops.forEach((s) => s());
  }, [watched, transport]);
  return flags;
}
