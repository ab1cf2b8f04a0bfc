import { describe, expect, test } from "vitest";
import { fireEvent, screen, waitFor } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { renderApp } from "./helpers";

describe("shell", () => {
  test("the four places have exactly these names and Ctrl+1..4 switch between them", async () => {
    await renderApp();
    const nav = screen.getByRole("navigation", { name: "Places" });
    for (const name of ["Create", "Gallery", "Activity", "Settings"]) {
      const b = screen.getByRole("button", { name });
      expect(nav.contains(b)).toBe(true);
    }
    expect(screen.getByRole("button", { name: "Create" })).toHaveAttribute("aria-current", "page");
    fireEvent.keyDown(window, { key: "2", ctrlKey: true });
    await screen.findByRole("heading", { name: "Gallery" });
    expect(screen.getByRole("button", { name: "Gallery" })).toHaveAttribute("aria-current", "page");
    fireEvent.keyDown(window, { key: "3", ctrlKey: true });
    await screen.findByRole("heading", { name: "Activity" });
    fireEvent.keyDown(window, { key: "4", ctrlKey: true });
    await screen.findByRole("heading", { name: "Settings" });
    fireEvent.keyDown(window, { key: "1", ctrlKey: true });
    await screen.findByLabelText("Prompt");
  });

  test("? opens the shortcuts overlay (not while typing) and Escape closes it", async () => {
    await renderApp();
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("Prompt"), "what?");
    expect(screen.queryByRole("dialog", { name: "Keyboard shortcuts" })).toBeNull();
    (document.activeElement as HTMLElement).blur();
    await user.keyboard("?");
    const dialog = await screen.findByRole("dialog", { name: "Keyboard shortcuts" });
    expect(dialog.textContent).toContain("Ctrl+1");
    await user.keyboard("{Escape}");
    await waitFor(() => expect(screen.queryByRole("dialog")).toBeNull());
  });

  test("demo mode is announced in the status strip and leads to Settings", async () => {
    await renderApp();
    const user = userEvent.setup();
    const pill = screen.getByRole("button", { name: /^Demo mode/ });
    expect(pill.textContent).toContain("images are simulated");
    await user.click(pill);
    await screen.findByRole("heading", { name: "Account" });
  });

  test("the status strip counts running jobs", async () => {
    const { mock } = await renderApp();
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("Prompt"), "three foxes");
    await user.click(screen.getByRole("radio", { name: "3 images" }));
    await user.click(screen.getByRole("button", { name: "Generate" }));
    // Queued first (the mock runs no timers here), then running once they start.
    await screen.findByText("3 queued");
    for (const j of mock.allJobs) mock.step(j.id);
    await screen.findByRole("button", { name: "3 running" });
    for (const j of mock.allJobs) mock.finish(j.id);
    await screen.findByText("Idle");
  });
});
