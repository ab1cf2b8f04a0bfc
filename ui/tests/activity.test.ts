import { describe, expect, test } from "vitest";
import { fireEvent, screen, waitFor, within } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { lastCall, renderApp } from "./helpers";
import type { GenerateRequest } from "../src/lib/backend";
import type { MockBackend } from "../src/lib/backend/mock";

const req = (prompt: string): GenerateRequest => ({
  prompt,
  negativePrompt: null,
  model: "Qubico/flux1-schnell",
  width: 1024,
  height: 1024,
  steps: null,
  guidance: null,
  seed: null,
  count: 1,
});

async function queueFour(mock: MockBackend): Promise<number[]> {
  const ids: number[] = [];
  for (const p of ["first in line", "second in line", "third in line", "fourth in line"]) ids.push(...(await mock.generate(req(p))));
  return ids;
}

async function openActivity() {
  const user = userEvent.setup();
  await user.click(screen.getByRole("button", { name: "Activity" }));
  await screen.findByRole("heading", { name: "Activity" });
  return user;
}

const upNext = () => screen.getByRole("list", { name: "Queued tasks, in start order" });
const queuedPrompts = () => within(upNext()).getAllByRole("listitem").map((li) => li.querySelector(".prompt")?.textContent);

describe("Activity queue", () => {
  test("the header shows running of the limit and the queued count; Pause/Resume call the backend", async () => {
    const { mock } = await renderApp({ keySource: "keychain", maxConcurrent: 3 });
    const ids = await queueFour(mock);
    mock.step(ids[0]);
    const user = await openActivity();
    const queue = screen.getByRole("region", { name: "Queue" });
    await within(queue).findByText("1 of 3 · 3 queued");
    expect(within(queue).getByText("Running")).toBeInTheDocument();

    await user.click(screen.getByRole("button", { name: "Pause queue" }));
    expect(lastCall(mock, "pauseQueue")).toEqual([null]);
    await within(queue).findByText("Paused");
    expect(screen.getByText(/running tasks finish, queued ones wait/)).toBeInTheDocument();
    expect(screen.getByRole("button", { name: /Queue paused/ })).toBeInTheDocument();

    await user.click(screen.getByRole("button", { name: "Resume queue" }));
    expect(lastCall(mock, "resumeQueue")).toEqual([]);
    await screen.findByRole("button", { name: "Pause queue" });
  });

  test("a budget pause shows the backend's reason with a way to Settings", async () => {
    const { mock } = await renderApp({ keySource: "keychain" });
    await openActivity();
    await mock.pauseQueue("Today's budget of $1.00 is reached. Raise the daily budget in Settings, or resume tomorrow.");
    await screen.findByText("Today's budget of $1.00 is reached. Raise the daily budget in Settings, or resume tomorrow.");
    const banner = screen.getByText(/budget of \$1\.00/).closest("[role=status]") as HTMLElement;
    expect(within(banner).getByRole("button", { name: "Open Settings" })).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Resume queue" })).toBeInTheDocument();
  });

  test("queued jobs are listed in start order and move up, down and to the top", async () => {
    const { mock } = await renderApp({ keySource: "keychain" });
    const ids = await queueFour(mock);
    const user = await openActivity();
    expect(queuedPrompts()).toEqual(["first in line", "second in line", "third in line", "fourth in line"]);

    const row = (prompt: string) => within(upNext()).getByText(prompt).closest("li") as HTMLElement;
    await user.click(within(row("third in line")).getByRole("button", { name: "Move up" }));
    expect(lastCall(mock, "moveJob")).toEqual([ids[2], ids[1]]);
    await waitFor(() => expect(queuedPrompts()).toEqual(["first in line", "third in line", "second in line", "fourth in line"]));

    await user.click(within(row("first in line")).getByRole("button", { name: "Move down" }));
    expect(lastCall(mock, "moveJob")).toEqual([ids[0], ids[1]]);
    await waitFor(() => expect(queuedPrompts()).toEqual(["third in line", "first in line", "second in line", "fourth in line"]));

    await user.click(within(row("second in line")).getByRole("button", { name: "Move down" }));
    expect(lastCall(mock, "moveJob")).toEqual([ids[1], null]);
    await waitFor(() => expect(queuedPrompts()).toEqual(["third in line", "first in line", "fourth in line", "second in line"]));

    await user.click(within(row("second in line")).getByRole("button", { name: "Move to top" }));
    expect(lastCall(mock, "moveJob")).toEqual([ids[1], ids[2]]);
    await waitFor(() => expect(queuedPrompts()).toEqual(["second in line", "third in line", "first in line", "fourth in line"]));
    // The mock's own queue agrees with what is shown.
    expect(mock.queueOrder).toEqual([ids[1], ids[2], ids[0], ids[3]]);

    // Dragging a handle (pointer events) below the last row moves the task to the end.
    const handle = within(row("third in line")).getByRole("button", { name: /^Reorder/ });
    fireEvent.pointerDown(handle, { button: 0, pointerId: 1, clientY: 0 });
    fireEvent.pointerMove(handle, { pointerId: 1, clientY: 10_000 });
    fireEvent.pointerUp(handle, { pointerId: 1, clientY: 10_000 });
    expect(lastCall(mock, "moveJob")).toEqual([ids[2], null]);
    await waitFor(() => expect(queuedPrompts()).toEqual(["second in line", "first in line", "fourth in line", "third in line"]));

    // Keyboard: Alt+↓ on a handle.
    within(row("second in line")).getByRole("button", { name: /^Reorder/ }).focus();
    await user.keyboard("{Alt>}{ArrowDown}{/Alt}");
    expect(lastCall(mock, "moveJob")).toEqual([ids[1], ids[3]]);
    await waitFor(() => expect(queuedPrompts()).toEqual(["first in line", "second in line", "fourth in line", "third in line"]));
  });

  test("cancelling a running job says PiAPI may still charge; Retry makes a new task", async () => {
    const { mock } = await renderApp({ keySource: "keychain" });
    const [id] = await mock.generate(req("a running task"));
    mock.step(id); // submitted: PiAPI has it
    mock.step(id);
    mock.step(id); // processing
    const user = await openActivity();
    const row = () => screen.getAllByText("a running task").map((el) => el.closest("li")).find((li) => li?.closest("ol[aria-label^='Tasks']")) as HTMLElement;
    await user.click(within(row()).getByRole("button", { name: "Cancel" }));
    expect(lastCall(mock, "cancelJob")).toEqual([id]);
    await within(row()).findByText("Cancelled");
    await within(row()).findByText(/PiAPI had already started this task and may still charge for it/);
    await user.click(within(row()).getByRole("button", { name: "Retry" }));
    expect(lastCall(mock, "retryJob")).toEqual([id]);
  });

  test("cost summary: today, this month and the balance, refreshed when a batch finishes", async () => {
    const { mock } = await renderApp({ keySource: "keychain", monthBeforeTodayUsd: 2 });
    await openActivity();
    const queue = screen.getByRole("region", { name: "Queue" });
    await within(queue).findByText("$18.42");
    expect(within(queue).getByText("$0.00")).toBeInTheDocument();
    expect(within(queue).getByText("$2.00")).toBeInTheDocument();

    const ids = await mock.generateBatch({
      prompts: ["one", "two"],
      negativePrompt: null,
      model: "Qubico/flux1-dev",
      width: 1024,
      height: 1024,
      steps: null,
      guidance: null,
      seeds: { kind: "random" },
      countPerPrompt: 1,
    });
    const before = mock.calls.filter((c) => c.method === "costSummary").length;
    for (const id of ids) mock.finish(id);
    await waitFor(() => expect(mock.calls.filter((c) => c.method === "costSummary").length).toBeGreaterThan(before));
    await within(queue).findByText("$0.03");
    expect(within(queue).getByText("$2.03")).toBeInTheDocument();
    // The status strip shows today's spend.
    expect(screen.getByRole("button", { name: /^Today \$0\.03/ })).toBeInTheDocument();
  });

  test("demo mode: per-job costs say Free like the header, never a dollar price", async () => {
    const { mock } = await renderApp();
    const [done] = await mock.generate(req("a finished demo image"));
    mock.finish(done);
    await mock.generate({ ...req("queued demo images"), count: 6 });
    await openActivity();
    const queue = screen.getByRole("region", { name: "Queue" });
    await waitFor(() => expect(within(queue).getAllByText("Free").length).toBeGreaterThanOrEqual(2)); // today, this month
    const tasks = screen.getByRole("list", { name: "Tasks, newest first" });
    const row = within(tasks).getByText("a finished demo image").closest("li") as HTMLElement;
    await within(row).findByText("Saved");
    expect(row.querySelector(".cost")?.textContent).toBe("Free");
    expect(tasks.textContent).not.toMatch(/\$\d/);
    expect(upNext().textContent).not.toMatch(/\$\d/);
    expect(screen.getByText(/^\d+ tasks · Free$/)).toBeInTheDocument();
  });

  test("with a key, per-job costs are dollar prices", async () => {
    const { mock } = await renderApp({ keySource: "keychain" });
    const [done] = await mock.generate(req("a finished paid image"));
    mock.finish(done);
    await openActivity();
    const tasks = screen.getByRole("list", { name: "Tasks, newest first" });
    const row = within(tasks).getByText("a finished paid image").closest("li") as HTMLElement;
    await within(row).findByText("Saved");
    expect(row.querySelector(".cost")?.textContent).toBe("$0.0015");
  });
});
