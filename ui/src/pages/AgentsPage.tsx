export function AgentsPage() {
  return <div className="page"><h1>Agents</h1></div>;
}
