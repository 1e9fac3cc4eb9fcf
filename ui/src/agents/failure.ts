import { ApiFailure } from "../transport";

/** Any thrown value as an ApiFailure, for the error banners. */
export function asFailure(e: unknown): ApiFailure {
  return e instanceof ApiFailure ? e : new ApiFailure({ message: e instanceof Error ? e.message : String(e) });
}
