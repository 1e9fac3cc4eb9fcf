import { useEffect, useState } from "react";
import { Bot, Play, Settings as SettingsIcon, Wrench, Zap } from "lucide-react";
import { useRoute } from "./lib/router";
import { ApiFailure, useTransport } from "./transport";
import { AgentsPage } from "./pages/AgentsPage";
import { AgentBuilderPage } from "./pages/AgentBuilderPage";
import { ToolsPage } from "./pages/ToolsPage";
import { RunsPage } from "./pages/RunsPage";
import { RunPage } from "./pages/RunPage";
import { SettingsPage } from "./pages/SettingsPage";
import { TriggersPage } from "./pages/TriggersPage";
import { SignIn } from "./pages/SignIn";
import { UpgradeNotice } from "./pages/AboutSection";

const SECTIONS = [
  { id: "agents", label: "Agents", icon: Bot },
  { id: "triggers", label: "Triggers", icon: Zap },
  { id: "tools", label: "Tools", icon: Wrench },
  { id: "runs", label: "Runs", icon: Play },
  { id: "settings", label: "Settings", icon: SettingsIcon },
] as const;

export function App({ sessionRefused }: { sessionRefused: boolean }) {
  const transport = useTransport();
  const route = useRoute();
  const [auth, setAuth] = useState<"unknown" | "ok" | "needed">("unknown");

  useEffect(() => {
    transport
      .call("settings_get", {})
      .then(() => setAuth("ok"))
      .catch((e) => setAuth(e instanceof ApiFailure && e.code === "unauthorized" ? "needed" : "ok"));
  }, [transport]);

  if (auth === "needed") return <SignIn refused={sessionRefused} onSignedIn={() => setAuth("ok")} />;
  if (auth === "unknown") return null;

  const [section, ...rest] = route.path;
  let page;
  switch (section) {
    case "agents":
      page = rest[0] === "new" || rest[0] ? <AgentBuilderPage name={rest[0] === "new" ? null : rest[0]} /> : <AgentsPage />;
      break;
    case "tools":
      page = <ToolsPage server={rest[0] ?? null} tool={rest[1] ?? null} />;
      break;
    case "triggers":
      page = <TriggersPage />;
      break;
    case "settings":
      page = <SettingsPage />;
      break;
    case "runs":
    default:
      page = rest[0] ? <RunPage runId={rest[0]} query={route.query} /> : <RunsPage query={route.query} />;
  }
  const current = section ?? "runs";
  return (
    <div className="app">
      <nav className="nav" aria-label="Sections">
        <div className="brand">
          <img src="./waymark.svg" alt="" />
          Waymark
        </div>
        {SECTIONS.map(({ id, label, icon: Icon }) => (
          <a key={id} href={`#/${id}`} aria-current={current === id ? "page" : undefined}>
            <Icon size={16} aria-hidden /> {label}
          </a>
        ))}
        <div className="spacer" />
        <div className="door">{transport.kind === "tauri" ? "Desktop" : "Browser"}</div>
      </nav>
      <main className="main">
        <UpgradeNotice />
        {page}
      </main>
    </div>
  );
}
