export function AgentBuilderPage({ name }: { name: string | null }) {
  return <div className="page"><h1>{name ?? "New agent"}</h1></div>;
}
