export function ToolsPage({ server, tool }: { server: string | null; tool: string | null }) {
  return <div className="page"><h1>Tools</h1>{server}{tool}</div>;
}
