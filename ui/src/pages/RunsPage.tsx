export function RunsPage({ query }: { query: URLSearchParams }) {
  return <div className="page"><h1>Runs</h1>{query.toString()}</div>;
}
