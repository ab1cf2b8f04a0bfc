// Normalised backend error: IpcError `{code, message}` from Rust, or anything else a call rejected with.

import type { ErrorCode } from "./types";

const KNOWN_CODES: ReadonlySet<string> = new Set<ErrorCode>([
  "InvalidInput", "Unauthorized", "InsufficientCredits", "RateLimited", "TaskFailed", "Cancelled", "Timeout",
  "CreateUnknown", "Network", "ServerError", "Protocol", "NotFound", "DownloadFailed", "InvalidImage", "Config",
  "NoApiKey", "KeychainUnavailable", "Storage", "DatabaseUnusable", "DiskFull", "Io", "Missing", "BudgetReached",
  "Internal", "UploadFailed",
]);

/** Every rejected backend call rejects with this. The UI branches only on `code`. */
export class BackendError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = "BackendError";
    this.code = code;
  }

  /** Normalises whatever a command rejected with (`{code,message}`, a string, an Error) into a BackendError. */
  static from(err: unknown): BackendError {
    if (err instanceof BackendError) return err;
    if (err && typeof err === "object" && "code" in err && typeof (err as { code: unknown }).code === "string") {
      const { code, message } = err as { code: string; message?: unknown };
      const msg = typeof message === "string" && message ? message : "Something went wrong.";
      return new BackendError(KNOWN_CODES.has(code) ? (code as ErrorCode) : "Internal", msg);
    }
    if (err instanceof Error) return new BackendError("Internal", err.message);
    if (typeof err === "string" && err) return new BackendError("Internal", err);
    return new BackendError("Internal", "Something went wrong.");
  }
}

