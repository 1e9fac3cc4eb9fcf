export function RunPage({ runId, query }: { runId: string; query: URLSearchParams }) {
  return <div className="page"><h1>Run {runId}</h1>{query.toString()}</div>;
}
