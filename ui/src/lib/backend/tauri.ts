// The Tauri adapter: THE ONLY module in the UI that imports `@tauri-apps/*`.
// Commands are snake_case on the Rust side; arguments are camelCase keys (Tauri converts them).
// Every rejection is normalised to BackendError so callers can branch on `code`.

import { Channel, convertFileSrc, invoke } from "@tauri-apps/api/core";
import { open as openDialog } from "@tauri-apps/plugin-dialog";
import { openUrl, revealItemInDir } from "@tauri-apps/plugin-opener";
import type { Backend } from "./index";
import { BackendError } from "./errors";
import type {
  AccountView,
  AppInfo,
  GalleryQuery,
  GenerateRequest,
  ImagePage,
  ImageView,
  JobEvent,
  JobView,
  KeyStatus,
  Settings,
  SettingsView,
} from "./types";

async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (err) {
    throw BackendError.from(err);
  }
}

export function createTauriBackend(): Backend {
  // Keep a reference so the channel is never garbage-collected while the app runs.
  let jobChannel: Channel<JobEvent> | null = null;

  return {
    kind: "tauri",
    appInfo: () => call<AppInfo>("app_info"),
    keyStatus: () => call<KeyStatus>("key_status"),
    setKey: (key) => call<KeyStatus>("set_key", { key }),
    deleteKey: () => call<KeyStatus>("delete_key"),
    getSettings: () => call<SettingsView>("get_settings"),
    updateSettings: (settings: Settings) => call<SettingsView>("update_settings", { settings }),
    watchJobs(onEvent) {
      jobChannel = new Channel<JobEvent>();
      jobChannel.onmessage = onEvent;
      return call<JobView[]>("watch_jobs", { onEvent: jobChannel });
    },
    generate: (request: GenerateRequest) => call<number[]>("generate", { request }),
    cancelJob: (jobId) => call<void>("cancel_job", { jobId }),
    retryJob: (jobId) => call<number[]>("retry_job", { jobId }),
    listJobs: () => call<JobView[]>("list_jobs"),
    accountInfo: () => call<AccountView>("account_info"),
    listImages: (query: GalleryQuery) => call<ImagePage>("list_images", { query }),
    getImage: (id) => call<ImageView>("get_image", { id }),
    setRating: (ids, rating) => call<void>("set_rating", { ids, rating }),
    setFavourite: (ids, favourite) => call<void>("set_favourite", { ids, favourite }),
    deleteImages: (ids) => call<void>("delete_images", { ids }),
    revealImage: (id) => call<void>("reveal_image", { id }),

    assetUrl: (path) => convertFileSrc(path),
    async pickFolder(current) {
      try {
        const picked = await openDialog({ directory: true, multiple: false, defaultPath: current ?? undefined });
        return typeof picked === "string" ? picked : null;
      } catch (err) {
        throw BackendError.from(err);
      }
    },
    async openExternal(url) {
      try {
        await openUrl(url);
      } catch (err) {
        throw BackendError.from(err);
      }
    },
    async revealPath(path) {
      try {
        await revealItemInDir(path);
      } catch (err) {
        throw BackendError.from(err);
      }
    },
  };
}
