// Settings as server state: loaded from getSettings, written with updateSettings, theme applied to <html>.

import { backend, BackendError, type Settings, type SettingsView, type Theme } from "../backend";

const THEME_KEY = "fluxdesk.theme";

function prefersLight(): boolean {
  return typeof window !== "undefined" && typeof window.matchMedia === "function" && window.matchMedia("(prefers-color-scheme: light)").matches;
}

/** Sets data-theme="light|dark" (resolved) and data-theme-pref on <html>; remembers it for the next start. */
export function applyTheme(theme: Theme): void {
  if (typeof document === "undefined") return;
  const resolved = theme === "system" ? (prefersLight() ? "light" : "dark") : theme;
  const root = document.documentElement;
  root.dataset.theme = resolved;
  root.dataset.themePref = theme;
  root.style.colorScheme = resolved;
  try {
    localStorage.setItem(THEME_KEY, theme);
  } catch {
    /* storage unavailable */
  }
}

class SettingsStore {
  view: SettingsView | null = $state(null);
  error: BackendError | null = $state(null);
  saving = $state(false);
  private mediaHooked = false;

  get settings(): Settings | null {
    return this.view?.settings ?? null;
  }

  /** The environment variable that pins `field`, or null. */
  overriddenBy(field: keyof Settings): string | null {
    return this.view?.overriddenBy.find((o) => o.field === field)?.env ?? null;
  }

  async load(): Promise<void> {
    try {
      this.view = await backend.getSettings();
      this.error = null;
      applyTheme(this.view.settings.theme);
      this.hookSystemTheme();
    } catch (err) {
      this.error = BackendError.from(err);
    }
  }

  /** Writes a partial change. Resolves to the error (also kept in `error`) or null on success. */
  async update(patch: Partial<Settings>): Promise<BackendError | null> {
    if (!this.view) return new BackendError("Internal", "Settings are not loaded yet.");
    const next: Settings = { ...this.view.settings, ...patch };
    if (patch.theme) applyTheme(patch.theme); // immediate, even before the backend answers
    this.saving = true;
    try {
      this.view = await backend.updateSettings(next);
      this.error = null;
      applyTheme(this.view.settings.theme);
      return null;
    } catch (err) {
      const e = BackendError.from(err);
      this.error = e;
      if (patch.theme && this.view) applyTheme(this.view.settings.theme);
      return e;
    } finally {
      this.saving = false;
    }
  }

  private hookSystemTheme(): void {
    if (this.mediaHooked || typeof window === "undefined" || typeof window.matchMedia !== "function") return;
    this.mediaHooked = true;
    window.matchMedia("(prefers-color-scheme: light)").addEventListener?.("change", () => {
      if (this.view?.settings.theme === "system") applyTheme("system");
    });
  }

  reset(): void {
    this.view = null;
    this.error = null;
    this.saving = false;
  }
}

export const settings = new SettingsStore();
