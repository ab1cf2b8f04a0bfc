// Test harness: a fresh in-memory backend (timers off, driven by the test) and fresh stores per test.
import { render, screen, waitFor } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import App from "../src/App.svelte";
import { setBackend } from "../src/lib/backend";
import { createMockBackend, type MockBackend, type MockOptions } from "../src/lib/backend/mock";
import { app } from "../src/lib/state/app.svelte";
import { jobs } from "../src/lib/state/jobs.svelte";
import { settings } from "../src/lib/state/settings.svelte";
import { images } from "../src/lib/state/images.svelte";
import { gallery } from "../src/lib/state/gallery.svelte";
import { viewer } from "../src/lib/state/viewer.svelte";
import { toasts } from "../src/lib/state/toasts.svelte";
import { form } from "../src/lib/state/create.svelte";
import { confirm, exporter } from "../src/lib/state/dialogs.svelte";
import { importer } from "../src/lib/state/importer.svelte";
import { editMenu } from "../src/lib/state/edit.svelte";

export function resetStores(): void {
  app.reset();
  jobs.reset();
  settings.reset();
  images.reset();
  gallery.reset();
  viewer.reset();
  toasts.clear();
  form.reset();
  confirm.reset();
  exporter.reset();
  importer.reset();
  editMenu.reset();
}

/** Renders the whole app against a fresh mock backend and waits until startup has finished. */
export async function renderApp(options: MockOptions = {}): Promise<{ mock: MockBackend }> {
  const mock = createMockBackend({ auto: false, seedGallery: 0, seedJobs: false, ...options });
  setBackend(mock);
  resetStores();
  render(App);
  await waitFor(() => {
    if (!app.info || !settings.view || !jobs.loaded) throw new Error("still starting");
  });
  await screen.findByRole("button", { name: "Create" });
  return { mock };
}

export function lastCall(mock: MockBackend, method: string): unknown[] | undefined {
  return [...mock.calls].reverse().find((c) => c.method === method)?.args;
}

/** Renders the app with `seedGallery` images and opens the gallery (its first tiles shown when seeded). */
export async function openGallery(seedGallery: number, options: MockOptions = {}) {
  const r = await renderApp({ seedGallery, ...options });
  const user = userEvent.setup();
  await user.click(screen.getByRole("button", { name: "Gallery" }));
  await screen.findByRole("heading", { name: "Gallery" });
  if (seedGallery > 0) await screen.findAllByRole("gridcell");
  return { ...r, user };
}
