import { describe, expect, test } from "vitest";
import { screen, within } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { lastCall, renderApp } from "./helpers";
import { ERROR_MESSAGES } from "../src/lib/backend/mock";

describe("errors and next steps", () => {
  test("an Unauthorized failure raises a toast whose 'Open Settings' leads to the key field", async () => {
    const { mock } = await renderApp({ keySource: "keychain" });
    const user = userEvent.setup();
    // Fails from elsewhere (e.g. a retry in Activity): not on screen, so a toast carries the next step.
    await user.click(screen.getByRole("button", { name: "Gallery" }));
    mock.configure({ failWith: "Unauthorized" });
    const ids = await mock.generate({
      prompt: "x",
      negativePrompt: null,
      model: "Qubico/flux1-schnell",
      width: 1024,
      height: 1024,
      steps: null,
      guidance: null,
      seed: null,
      count: 1,
    });
    mock.step(ids[0]);
    mock.step(ids[0]);

    const region = screen.getByRole("status", { name: "Notifications" });
    expect(region).toHaveAttribute("aria-live", "polite");
    await within(region).findByText(ERROR_MESSAGES.Unauthorized);
    await user.click(within(region).getByRole("button", { name: "Open Settings" }));
    await screen.findByRole("heading", { name: "Account" });
    expect(document.activeElement).toBe(screen.getByLabelText("API key"));
  });

  test("Activity shows state, Cancel/Retry and a next step per error code", async () => {
    const { mock } = await renderApp({ keySource: "keychain" });
    const user = userEvent.setup();
    const req = {
      prompt: "",
      negativePrompt: null,
      model: "Qubico/flux1-dev" as const,
      width: 1024,
      height: 1024,
      steps: null,
      guidance: null,
      seed: null,
      count: 1,
    };
    const fail = async (code: "InsufficientCredits" | "RateLimited" | "CreateUnknown" | "NoApiKey", prompt: string) => {
      mock.configure({ failWith: code });
      const [id] = await mock.generate({ ...req, prompt });
      mock.step(id);
      mock.step(id);
    };
    await fail("InsufficientCredits", "credits prompt");
    await fail("RateLimited", "rate prompt");
    await fail("CreateUnknown", "unknown prompt");
    await fail("NoApiKey", "nokey prompt");
    mock.configure({ failWith: null });
    const [running] = await mock.generate({ ...req, prompt: "running prompt" });
    mock.step(running);
    mock.step(running);
    mock.step(running);

    await user.click(screen.getByRole("button", { name: "Activity" }));
    const row = (text: string) => screen.getByText(text).closest("li") as HTMLElement;

    const credits = row("credits prompt");
    expect(within(credits).getByText("Failed")).toBeInTheDocument();
    expect(within(credits).getByText(ERROR_MESSAGES.InsufficientCredits)).toBeInTheDocument();
    await user.click(within(credits).getByRole("button", { name: "Top up" }));
    expect(lastCall(mock, "openExternal")).toEqual(["https://piapi.ai/workspace"]);
    expect(within(credits).getByRole("button", { name: "Retry" })).toBeInTheDocument();

    expect(within(row("rate prompt")).getByText("Rate limited — will retry automatically.")).toBeInTheDocument();
    expect(within(row("unknown prompt")).getByText(/Not resent automatically/)).toBeInTheDocument();
    expect(within(row("nokey prompt")).getByRole("button", { name: "Open Settings" })).toBeInTheDocument();

    const live = row("running prompt");
    expect(within(live).getByText("Generating")).toBeInTheDocument();
    expect(within(live).getByRole("progressbar")).toBeInTheDocument();
    await user.click(within(live).getByRole("button", { name: "Cancel" }));
    await within(row("running prompt")).findByText("Cancelled");
    expect(within(row("running prompt")).getByRole("button", { name: "Retry" })).toBeInTheDocument();
  });
});
