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

  /** Costs are not charged: app info or the cost summary says demo mode. Prices then show as "Free". */
  get free(): boolean {
    return this.info?.demo === true || this.cost?.demo === true;
  }

  navigate(route: Route, section: SettingsSection | null = null): void {
    this.route = route;
    this.focusSection = route === "settings" ? section : null;
  }

  async refreshInfo(): Promise<void> {
    this.info = await backend.appInfo();
  }

  /**
   * Reads the balance and plan. At most one accountInfo call is in flight: callers while one runs share it.
   * `fresh` (after the key or the balance changed) wants a read that starts after this call: it queues one
   * follow-up read after the running one, shared by every caller meanwhile.
   */
  refreshAccount(fresh = false): Promise<void> {
    if (!this.accountRead) return this.readAccount();
    if (fresh && !this.accountNext) {
      const next: Promise<void> = this.accountRead.then(() => {
        if (this.accountNext === next) this.accountNext = null;
        return this.accountRead ?? this.readAccount();
      });
      this.accountNext = next;
    }
    return this.accountNext ?? this.accountRead;
  }

  private accountRead: Promise<void> | null = null;
  private accountNext: Promise<void> | null = null;
  /** Bumped by reset(): a read started before it does not write its answer. */
  private accountEpoch = 0;

  private readAccount(): Promise<void> {
    const epoch = this.accountEpoch;
    const run: Promise<void> = (async () => {
      try {
        const account = await backend.accountInfo();
        if (epoch !== this.accountEpoch) return;
        this.account = account;
        this.accountError = null;
      } catch (err) {
        if (epoch === this.accountEpoch) this.accountError = BackendError.from(err);
      }
    })().finally(() => {
      if (this.accountRead === run) this.accountRead = null;
    });
    this.accountRead = run;
    return run;
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
    this.accountRead = null;
    this.accountNext = null;
    this.accountEpoch += 1;
    this.shortcutsOpen = false;
    this.demoBannerDismissed = false;
  }
}

export const app = new AppStore();
