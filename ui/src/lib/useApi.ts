// Loading a command's answer into a component, with its error, and a reload.
import { useCallback, useEffect, useRef, useState } from "react";
import type { CommandName } from "../bindings/Commands";
import { ApiFailure, useTransport, type Request, type Response } from "../transport";

export type Loaded<T> = {
  data: T | null;
  error: ApiFailure | null;
  loading: boolean;
  reload: () => Promise<void>;
};

export function useApi<C extends CommandName>(command: C, request: Request<C> | null, deps: unknown[] = []): Loaded<Response<C>> {
  const transport = useTransport();
  const [data, setData] = useState<Response<C> | null>(null);
  const [error, setError] = useState<ApiFailure | null>(null);
  const [loading, setLoading] = useState(true);
  const reqRef = useRef(request);
  reqRef.current = request;
  const reload = useCallback(async () => {
    if (reqRef.current === null) return;
    setLoading(true);
    try {
      setData(await transport.call(command, reqRef.current));
      setError(null);
    } catch (e) {
      setError(e instanceof ApiFailure ? e : new ApiFailure({ message: String(e) }));
    } finally {
      setLoading(false);
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [transport, command, ...deps]);
  useEffect(() => {
    void reload();
  }, [reload]);
  return { data, error, loading, reload };
}

/** Runs an action, keeping its pending state and error for the button that started it. */
export function useAction<A extends unknown[], T>(fn: (...args: A) => Promise<T>) {
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<ApiFailure | null>(null);
  const run = useCallback(
    async (...args: A): Promise<T | undefined> => {
      setPending(true);
      setError(null);
      try {
        return await fn(...args);
      } catch (e) {
        setError(e instanceof ApiFailure ? e : new ApiFailure({ message: String(e) }));
        return undefined;
      } finally {
        setPending(false);
      }
    },
    [fn],
  );
  return { run, pending, error, clearError: () => setError(null) };
}
