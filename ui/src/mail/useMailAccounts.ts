// The mail accounts' names, for the agent form's pickers (an email trigger's account, the
// account send_email sends from).
import { useApi } from "../lib/useApi";

export function useMailAccountNames(): { names: string[]; loaded: boolean; error: string | null } {
  const list = useApi("mail_accounts_list", {});
  return {
    names: (list.data?.accounts ?? []).map((a) => a.account.name),
    loaded: list.data !== null,
    error: list.error?.message ?? null,
  };
}
