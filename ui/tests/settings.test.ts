import { describe, expect, test } from "vitest";
import { screen, waitFor, within } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { lastCall, renderApp } from "./helpers";
import type { Settings } from "../src/lib/backend";

const SECRET = "pk-test-0123456789abcdef-SECRET";

async function openSettings() {
  const user = userEvent.setup();
  await user.click(screen.getByRole("button", { name: "Settings" }));
  await screen.findByRole("heading", { name: "Account" });
  return user;
}

describe("Settings", () => {
  test("saving the key never leaves it in the DOM and switches out of demo mode", async () => {
    const { mock } = await renderApp();
    const user = await openSettings();
    expect(screen.getByText("No key — demo mode")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: /^Demo mode/ })).toBeInTheDocument();

    const input = screen.getByLabelText("API key") as HTMLInputElement;
    expect(input.type).toBe("password");
    await user.type(input, SECRET);
    await user.click(screen.getByRole("button", { name: "Save key" }));

    await screen.findByText("Key set (keychain)");
    expect(input.value).toBe("");
    expect(document.documentElement.outerHTML).not.toContain(SECRET);
    expect(JSON.stringify(mock.calls)).not.toContain(SECRET);
    // Demo pill replaced by the balance.
    await waitFor(() => expect(screen.queryByRole("button", { name: /^Demo mode/ })).toBeNull());
    expect(screen.getAllByText("$18.42").length).toBeGreaterThan(0);

    await user.click(screen.getByRole("button", { name: "Remove key" }));
    await screen.findByText("No key — demo mode");
  });

  test("a rejected key is cleared from the field and the error is shown", async () => {
    await renderApp();
    const user = await openSettings();
    const input = screen.getByLabelText("API key") as HTMLInputElement;
    await user.type(input, "short");
    await user.click(screen.getByRole("button", { name: "Save key" }));
    await screen.findByText(/does not look like a PiAPI key/);
    expect(input.value).toBe("");
    expect(document.documentElement.outerHTML).not.toContain('value="short"');
  });

  test("an environment key disables the key field and says so", async () => {
    await renderApp({ keySource: "environment" });
    await openSettings();
    expect(screen.getByText("Using PIAPI_API_KEY from the environment")).toBeInTheDocument();
    expect(screen.getByLabelText("API key")).toBeDisabled();
    expect(screen.getByText(/Disabled: PIAPI_API_KEY is set in the environment/)).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Save key" })).toBeDisabled();
  });

  test("fields overridden by the environment are read-only and name the variable", async () => {
    const { mock } = await renderApp({
      overrides: [
        { field: "baseUrl", env: "PIAPI_BASE_URL" },
        { field: "pollIntervalMs", env: "FLUXDESK_POLL_INTERVAL_MS" },
      ],
    });
    await openSettings();
    const base = screen.getByLabelText("Base URL") as HTMLInputElement;
    expect(base.readOnly).toBe(true);
    expect(screen.getByText("PIAPI_BASE_URL").closest("p")?.textContent).toContain("Set by PIAPI_BASE_URL");
    expect((screen.getByLabelText("Poll interval") as HTMLInputElement).readOnly).toBe(true);
    expect((screen.getByLabelText("Poll attempts") as HTMLInputElement).readOnly).toBe(false);

    const user = userEvent.setup();
    const attempts = screen.getByLabelText("Poll attempts");
    await user.clear(attempts);
    await user.type(attempts, "60");
    await user.tab();
    await waitFor(() => expect((lastCall(mock, "updateSettings")?.[0] as Settings | undefined)?.pollMaxAttempts).toBe(60));
    await screen.findByText("Saved");
  });

  test("an invalid value shows the backend's message under the field", async () => {
    await renderApp();
    const user = await openSettings();
    const base = screen.getByLabelText("Base URL");
    await user.clear(base);
    await user.type(base, "ftp://nope");
    await user.tab();
    await screen.findByText(/The base URL must use https:\/\//);
  });

  test("switching the theme applies it immediately via data-theme", async () => {
    const { mock } = await renderApp();
    const user = await openSettings();
    expect(document.documentElement.dataset.theme).toBe("dark");
    const group = screen.getByRole("radiogroup", { name: "Theme" });
    await user.click(within(group).getByRole("radio", { name: "Light" }));
    expect(document.documentElement.dataset.theme).toBe("light");
    await waitFor(() => expect((lastCall(mock, "updateSettings")?.[0] as Settings).theme).toBe("light"));
    expect(localStorage.getItem("fluxdesk.theme")).toBe("light");
    await user.click(within(group).getByRole("radio", { name: "Dark" }));
    expect(document.documentElement.dataset.theme).toBe("dark");
  });

  test("Change… picks a folder and saves it", async () => {
    const { mock } = await renderApp();
    const user = await openSettings();
    await user.click(screen.getByRole("button", { name: "Change…" }));
    await waitFor(() => expect((lastCall(mock, "updateSettings")?.[0] as Settings).galleryDir).toBe("/home/you/Pictures/Fluxdesk Exports"));
    await screen.findByText("/home/you/Pictures/Fluxdesk Exports");
  });
});
