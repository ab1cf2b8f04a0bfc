import { describe, expect, test } from "vitest";
import { screen, waitFor, within } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { lastCall, renderApp } from "./helpers";
import type { Settings } from "../src/lib/backend";
import { ERROR_MESSAGES, type MockBackend } from "../src/lib/backend/mock";
import { app } from "../src/lib/state/app.svelte";

const SECRET = "pk-test-0123456789abcdef-SECRET";

async function openSettings() {
  const user = userEvent.setup();
  await user.click(screen.getByRole("button", { name: "Settings" }));
  await screen.findByRole("heading", { name: "Account" });
  return user;
}

describe("Settings", () => {
  test("without a keychain, Settings says why and what to do, once", async () => {
    await renderApp({ keychainAvailable: false });
    await openSettings();
    const alert = await screen.findByText(/The system keychain is not available/);
    expect(alert.textContent).toBe(
      "The system keychain is not available (the Secret Service is not running). On Linux, install and unlock a Secret Service (GNOME Keyring or KWallet), or set PIAPI_API_KEY in the environment.",
    );
    expect(alert.closest("[role=alert]")?.textContent?.match(/PIAPI_API_KEY/g)).toHaveLength(1);
  });

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

  test("a set key whose account cannot be read says why and offers Retry", async () => {
    const { mock } = await renderApp({ keySource: "keychain", accountFailWith: "Network", latencyMs: 20 });
    const user = await openSettings();
    // Whether the read is still running or has failed, the card never claims there is no key.
    expect(screen.queryByText(/appear here once a key is set/)).toBeNull();
    await screen.findByText("Balance unavailable", { selector: "p" });
    expect(screen.getByText(ERROR_MESSAGES.Network)).toBeInTheDocument();
    expect(screen.queryByText(/appear here once a key is set/)).toBeNull();

    mock.configure({ accountFailWith: null });
    await user.click(screen.getByRole("button", { name: "Retry" }));
    await screen.findByText("Creator");
    expect(screen.queryByText("Balance unavailable", { selector: "p" })).toBeNull();
  });

  test("an environment key rejected by PiAPI shows the error, not the no-key text", async () => {
    await renderApp({ keySource: "environment", accountFailWith: "Unauthorized" });
    await openSettings();
    await screen.findByText(ERROR_MESSAGES.Unauthorized);
    expect(screen.queryByText(/appear here once a key is set/)).toBeNull();
  });

  test("without a key the account card keeps the no-key text", async () => {
    await renderApp({ keySource: "none", accountFailWith: "Network" });
    await openSettings();
    expect(screen.getByText("Balance and plan appear here once a key is set.")).toBeInTheDocument();
    expect(screen.queryByText("Balance unavailable", { selector: "p" })).toBeNull();
  });

  test("saving a key reads the account once", async () => {
    const { mock } = await renderApp({ latencyMs: 5 });
    const user = await openSettings();
    await app.refreshAccount(); // joins (or makes) the startup read: nothing in flight after it
    const before = accountCalls(mock);
    const input = screen.getByLabelText("API key");
    await user.type(input, SECRET);
    await user.click(screen.getByRole("button", { name: "Save key" }));
    await screen.findByText("Creator");
    await waitFor(() => expect(input).not.toBeDisabled()); // saveKey has finished
    expect(accountCalls(mock) - before).toBe(1);
  });

  test("account reads in flight are shared; fresh asks queue one follow-up", async () => {
    const { mock } = await renderApp({ latencyMs: 5 });
    await app.refreshAccount();
    const before = accountCalls(mock);
    await Promise.all([app.refreshAccount(), app.refreshAccount(), app.refreshAccount()]);
    expect(accountCalls(mock) - before).toBe(1);

    // One read runs; the fresh asks made meanwhile share a single read after it.
    await Promise.all([app.refreshAccount(), app.refreshAccount(true), app.refreshAccount(true), app.refreshAccount()]);
    expect(accountCalls(mock) - before).toBe(3);
  });
});

const accountCalls = (mock: MockBackend) => mock.calls.filter((c) => c.method === "accountInfo").length;
