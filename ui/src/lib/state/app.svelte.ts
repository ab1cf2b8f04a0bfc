// App-wide state: current place (route), app info (demo, key status, version) and account balance.

import { backend, BackendError, type AccountView, type AppInfo, type CostSummary } from "../backend";

export type Route = "create" | "gallery" | "activity" | "settings";
export type SettingsSection = "account" | "generation" | "storage" | "network" | "appearance";

export const ROUTES: readonly { id: Route; label: string; key: string }[] = [
  { id: "create", label: "Create", key: "1" },
  { id: "gallery", label: "Gallery", key: "2" },
  { id: "activity", label: "Activity", key: "3" },
  { id: "settings", label: "Settings", key: "4" },
];

class AppStore {
  route: Route = $state("create");
  /** Settings section to scroll to (and focus) after navigating there. */
  focusSection: SettingsSection | null = $state(null);
  info: AppInfo | null = $state(null);
  account: AccountView | null = $state(null);
  accountError: BackendError | null = $state(null);
  /** Today's / this month's spend and the balance (cost_summary). */
  cost: CostSummary | null = $state(null);
  shortcutsOpen = $state(false);
  demoBannerDismissed = $state(false);

  get demo(): boolean {
    return this.info?.demo ?? true;
  }

  navigate(route: Route, section: SettingsSection | null = null): void {
    this.route = route;
    this.focusSection = route === "settings" ? section : null;
  }

  async refreshInfo(): Promise<void> {
    this.info = await backend.appInfo();
  }

  async refreshAccount(): Promise<void> {
    try {
      this.account = await backend.accountInfo();
      this.accountError = null;
    } catch (err) {
      this.accountError = BackendError.from(err);
    }
  }

  async refreshCost(): Promise<void> {
    try {
      this.cost = await backend.costSummary();
    } catch {
      /* keep the last known summary; the strip hides what it does not know */
    }
  }

  reset(): void {
    this.cost = null;
    this.route = "create";
    this.focusSection = null;
    this.info = null;
    this.account = null;
    this.accountError = null;
    this.shortcutsOpen = false;
    this.demoBannerDismissed = false;
  }
}

export const app = new AppStore();
