// The demo agent as the server describes it: its name and the input its scripted turns expect,
// defined once in the agent crate and read here once per app.
import { useEffect, useState } from "react";
import type { DemoInfo } from "../bindings/DemoInfo";
import { useTransport, type Transport } from "../transport";

let cached: Promise<DemoInfo | null> | null = null;

function load(transport: Transport): Promise<DemoInfo | null> {
  cached ??= transport.call("demo_get", {}).catch(() => {
    // Asked again next time: a hint is not worth an error banner.
    cached = null;
    return null;
  });
  return cached;
}

export function useDemo(): DemoInfo | null {
  const transport = useTransport();
  const [demo, setDemo] = useState<DemoInfo | null>(null);
  useEffect(() => {
    let on = true;
    void load(transport).then((d) => on && setDemo(d));
    return () => {
      on = false;
    };
  }, [transport]);
  return demo;
}

/** The input to offer when starting `agent`: the demo's for the demo agent, else nothing. */
export function demoInputFor(demo: DemoInfo | null, agent: string | null | undefined): string {
  return demo && agent === demo.agent ? demo.input : "";
}
