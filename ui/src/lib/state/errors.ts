// Maps error codes to the next step the user can take (the UI branches only on `code`).

import { backend, type ErrorCode } from "../backend";
import { app, type SettingsSection } from "./app.svelte";
import { toasts, type ToastAction } from "./toasts.svelte";

export const TOP_UP_URL = "https://piapi.ai/workspace";

const SETTINGS_FOR: Partial<Record<ErrorCode, SettingsSection>> = {
  Unauthorized: "account",
  NoApiKey: "account",
  KeychainUnavailable: "account",
  Config: "network",
  BudgetReached: "generation",
  Storage: "storage",
  DiskFull: "storage",
};

export function openTopUp(): void {
  backend.openExternal(TOP_UP_URL).catch(() => {
    toasts.push({ tone: "info", message: `Open ${TOP_UP_URL} in your browser to top up.` });
  });
}

/** The button for an error's next step, if there is one. */
export function nextStep(code: ErrorCode): ToastAction | undefined {
  const section = SETTINGS_FOR[code];
  if (section) return { label: "Open Settings", run: () => app.navigate("settings", section) };
  if (code === "InsufficientCredits") return { label: "Top up", run: openTopUp };
  return undefined;
}

/** A short extra explanation shown under some errors. */
export function nextStepNote(code: ErrorCode): string | null {
  switch (code) {
    case "RateLimited":
      return "Rate limited — will retry automatically.";
    case "CreateUnknown":
      return "Not resent automatically: PiAPI may already have accepted it, and resending could charge you twice. Check your PiAPI task list before retrying.";
    default:
      return null;
  }
}

/** Shows an error toast with its next-step button. Same-code toasts coalesce. */
export function toastError(code: ErrorCode, message: string, title?: string): void {
  toasts.push({ tone: "error", message, title, action: nextStep(code), key: `err:${code}` });
}
