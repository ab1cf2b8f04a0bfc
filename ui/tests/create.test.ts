import { describe, expect, test } from "vitest";
import { fireEvent, screen, waitFor, within } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { lastCall, renderApp } from "./helpers";
import type { BatchRequest, GenerateRequest } from "../src/lib/backend";
import { parsePrompts } from "../src/lib/state/create.svelte";

const generateButton = () => screen.getByRole("button", { name: "Generate" });

describe("Create", () => {
  test("Generate is disabled until there is a prompt", async () => {
    await renderApp();
    const user = userEvent.setup();
    expect(generateButton()).toBeDisabled();
    await user.type(screen.getByLabelText("Prompt"), "   ");
    expect(generateButton()).toBeDisabled();
    await user.type(screen.getByLabelText("Prompt"), "a red fox");
    expect(generateButton()).toBeEnabled();
  });

  test("2000×2000 shows a message naming the problem and disables Generate", async () => {
    await renderApp();
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("Prompt"), "a red fox");
    const w = screen.getByRole("spinbutton", { name: "Width" });
    const h = screen.getByRole("spinbutton", { name: "Height" });
    await user.clear(w);
    await user.type(w, "2000");
    await user.clear(h);
    await user.type(h, "2000");
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("4,000,000 px");
    expect(alert.textContent).toContain("1,048,576");
    expect(w).toHaveAttribute("aria-invalid", "true");
    expect(generateButton()).toBeDisabled();

    await user.clear(w);
    await user.type(w, "32");
    await waitFor(() => expect(screen.getByRole("alert").textContent).toContain("Width must be between 64 and 2,048 px"));

    // The suggested fix restores a valid size.
    await user.clear(w);
    await user.type(w, "2000");
    await user.click(screen.getByRole("button", { name: /^Use / }));
    expect(screen.queryByRole("alert")).toBeNull();
    expect(generateButton()).toBeEnabled();
  });

  test("the cost on the button follows model and image count", async () => {
    await renderApp({ keySource: "keychain" });
    const user = userEvent.setup();
    expect(generateButton().textContent).toMatch(/Generate 4\s*·\s*\$0\.006/);
    await user.click(screen.getByRole("radio", { name: /^Flux Dev, \$0\.015 per image/ }));
    expect(generateButton().textContent).toMatch(/Generate 4\s*·\s*\$0\.06\b/);
    await user.click(screen.getByRole("radio", { name: "8 images" }));
    expect(generateButton().textContent).toMatch(/Generate 8\s*·\s*\$0\.12\b/);
    await user.click(screen.getByRole("radio", { name: /^Flux Dev Advanced, \$0\.02 per image/ }));
    await user.click(screen.getByRole("radio", { name: "1 image" }));
    expect(generateButton().textContent).toMatch(/Generate 1\s*·\s*\$0\.02\b/);
    expect(document.getElementById("generate-cost")?.textContent).toBe("1 image × $0.02 = $0.02");
  });

  test("demo mode: the button says Free and the price is only information", async () => {
    await renderApp();
    const user = userEvent.setup();
    expect(generateButton().textContent).toMatch(/Generate 4\s*·\s*Free/);
    expect(generateButton().textContent).not.toContain("$");
    expect(document.getElementById("generate-cost")?.textContent?.replace(/\s+/g, " ")).toBe("4 images · free in demo mode (would cost $0.006 on PiAPI)");
    await user.click(screen.getByRole("radio", { name: /^Flux Dev, \$0\.015 per image/ }));
    expect(generateButton().textContent).toMatch(/Generate 4\s*·\s*Free/);
    expect(document.getElementById("generate-cost")?.textContent).toContain("would cost $0.06 on PiAPI");
  });

  test("Ctrl+Enter with an invalid size moves focus to the size field instead of sending", async () => {
    const { mock } = await renderApp();
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("Prompt"), "a red fox");
    const w = screen.getByRole("spinbutton", { name: "Width" });
    await user.clear(w);
    await user.type(w, "4000");
    await user.click(screen.getByLabelText("Prompt"));
    await user.keyboard("{Control>}{Enter}{/Control}");
    await waitFor(() => expect(w).toHaveFocus());
    expect(lastCall(mock, "generate")).toBeUndefined();
    // The footer's message offers the same way back to the field.
    await user.click(screen.getByLabelText("Prompt"));
    await user.click(within(document.getElementById("generate-blocker") as HTMLElement).getByRole("button", { name: "Show" }));
    expect(w).toHaveFocus();
  });

  test("a refused Generate opens More when the problem is in there", async () => {
    await renderApp();
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("Prompt"), "a red fox");
    await user.click(screen.getByRole("button", { name: "More" }));
    await user.type(screen.getByLabelText("Steps"), "99");
    await user.click(screen.getByRole("button", { name: "More" }));
    expect(screen.getByRole("button", { name: "More" })).toHaveAttribute("aria-expanded", "false");
    await user.click(screen.getByLabelText("Prompt"));
    await user.keyboard("{Control>}{Enter}{/Control}");
    await waitFor(() => expect(screen.getByLabelText("Steps")).toHaveFocus());
    expect(screen.getByRole("button", { name: "More" })).toHaveAttribute("aria-expanded", "true");
  });

  test("Ctrl+Enter sends exactly the request shown in the form", async () => {
    const { mock } = await renderApp();
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("Prompt"), "Brutalist pavilion at dusk");
    await user.click(screen.getByRole("radio", { name: /^Flux Dev, \$0\.015 per image/ }));
    await user.click(screen.getByRole("radio", { name: /^16:9,/ }));
    await user.click(screen.getByRole("radio", { name: "2 images" }));
    await user.click(screen.getByRole("button", { name: "More" }));
    await user.type(screen.getByLabelText("Negative prompt"), "text, watermark");
    await user.click(screen.getByRole("radio", { name: "Fixed" }));
    const seed = screen.getByRole("spinbutton", { name: "Seed value" });
    await user.clear(seed);
    await user.type(seed, "42");
    await user.type(screen.getByLabelText("Steps"), "20");
    fireEvent.input(screen.getByLabelText("Guidance"), { target: { value: "3.5" } });

    screen.getByLabelText("Prompt").focus();
    await user.keyboard("{Control>}{Enter}{/Control}");

    await waitFor(() => expect(lastCall(mock, "generate")).toBeDefined());
    const [request] = lastCall(mock, "generate") as [GenerateRequest];
    expect(request).toEqual({
      prompt: "Brutalist pavilion at dusk",
      negativePrompt: "text, watermark",
      model: "Qubico/flux1-dev",
      width: 1344,
      height: 768,
      steps: 20,
      guidance: 3.5,
      seed: 42,
      count: 2,
    } satisfies GenerateRequest);
    expect(mock.calls.filter((c) => c.method === "generate")).toHaveLength(1);
  });

  test("random seed is sent as null", async () => {
    const { mock } = await renderApp();
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("Prompt"), "a lighthouse");
    await user.click(generateButton());
    await waitFor(() => expect(lastCall(mock, "generate")).toBeDefined());
    const [request] = lastCall(mock, "generate") as [GenerateRequest];
    expect(request.seed).toBeNull();
    expect(request.negativePrompt).toBeNull();
    expect(request.steps).toBeNull();
    expect(request.guidance).toBeNull();
    expect(request.count).toBe(4);
  });

  test("job events move a tile from pending to the image, with alt = prompt", async () => {
    const { mock } = await renderApp();
    const user = userEvent.setup();
    await user.click(screen.getByRole("radio", { name: "1 image" }));
    await user.type(screen.getByLabelText("Prompt"), "Misty forest valley at dawn");
    await user.click(generateButton());

    const batch = await screen.findByRole("article", { name: /Misty forest valley at dawn/ });
    expect(within(batch).getByText("Queued")).toBeInTheDocument();
    expect(within(batch).queryByRole("img")).toBeNull();

    const [jobId] = mock.allJobs.map((j) => j.id);
    mock.step(jobId); // submitted
    await within(batch).findByText("Waiting for PiAPI");
    mock.step(jobId); // pending
    mock.step(jobId); // processing
    await within(batch).findByText("Generating");
    const bar = within(batch).getByRole("progressbar");
    expect(bar.getAttribute("aria-valuetext")).toMatch(/estimate/);
    mock.step(jobId); // downloading
    await within(batch).findByText("Downloading");
    mock.step(jobId); // saved

    const img = await within(batch).findByRole("img");
    expect(img).toHaveAttribute("alt", "Misty forest valley at dawn");
    expect(within(batch).queryByRole("progressbar")).toBeNull();
    // The running count in the rail/status strip drops back to idle.
    await screen.findByText("Idle");
  });

  test("a pending tile can be cancelled and then retried in place", async () => {
    const { mock } = await renderApp();
    const user = userEvent.setup();
    await user.click(screen.getByRole("radio", { name: "1 image" }));
    await user.type(screen.getByLabelText("Prompt"), "Ceramic vase still life");
    await user.click(generateButton());
    const batch = await screen.findByRole("article", { name: /Ceramic vase/ });
    await user.click(within(batch).getByRole("button", { name: "Cancel" }));
    await within(batch).findByText("Cancelled");
    await user.click(within(batch).getByRole("button", { name: "Retry" }));
    await within(batch).findByText("Queued");
    expect(lastCall(mock, "retryJob")).toEqual([1]);
  });

  test("a rejected generate shows the error where it happened, with its next step", async () => {
    const { mock } = await renderApp({ keySource: "keychain" });
    mock.generate = async () => {
      const { BackendError } = await import("../src/lib/backend");
      throw new BackendError("BudgetReached", "Today's spending limit is reached. Raise the daily budget in Settings to continue.");
    };
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("Prompt"), "a red fox");
    await user.click(generateButton());
    const alert = await screen.findByText(/spending limit is reached/);
    const box = alert.closest("[role=alert]") as HTMLElement;
    await user.click(within(box).getByRole("button", { name: "Open Settings" }));
    await screen.findByRole("heading", { name: "Generation defaults" });
  });

  test("a pending tile takes the output's aspect ratio before the image arrives", async () => {
    const { mock } = await renderApp();
    const user = userEvent.setup();
    await user.click(screen.getByRole("radio", { name: "1 image" }));
    await user.click(screen.getByRole("radio", { name: /^9:16,/ }));
    await user.type(screen.getByLabelText("Prompt"), "A tall lighthouse");
    await user.click(generateButton());
    const batch = await screen.findByRole("article", { name: /A tall lighthouse/ });
    const tileEl = batch.querySelector<HTMLElement>("[data-state]") as HTMLElement;
    expect(tileEl.style.paddingBottom).toBe("175%");
    mock.finish(mock.allJobs[0].id);
    await within(batch).findByRole("img");
    expect(tileEl.style.paddingBottom).toBe("175%");
  });
});

describe("Batch", () => {
  test("prompts are one per line; blank lines and spaces are ignored", () => {
    expect(parsePrompts("  a fox \n\n\tb owl\r\nc   \n ")).toEqual(["a fox", "b owl", "c"]);
  });

  test("the planner counts prompts × images and prices them on the button; generate_batch gets the plan", async () => {
    const { mock } = await renderApp({ keySource: "keychain" });
    const user = userEvent.setup();
    await user.click(screen.getByRole("radio", { name: "Batch" }));
    const prompts = screen.getByLabelText(/^Prompts/);
    await user.type(prompts, "A red fox in snow{Enter}{Enter}  The same fox at dusk  {Enter}A paper-cut fox");
    await user.click(screen.getByRole("radio", { name: "8 images" }));
    expect(screen.getByText("3 prompts × 8 images = 24 images")).toBeInTheDocument();
    expect(generateButton().textContent).toMatch(/Generate 24\s*·\s*\$0\.036/);
    await user.click(screen.getByRole("radio", { name: /^Flux Dev, \$0\.015 per image/ }));
    expect(generateButton().textContent).toMatch(/Generate 24\s*·\s*\$0\.36\b/);
    await user.click(screen.getByRole("radio", { name: /^Flux Schnell,/ }));

    // Seed plan: Sweep start + step.
    await user.click(screen.getByRole("radio", { name: "Sweep" }));
    const start = screen.getByRole("spinbutton", { name: "Start seed" });
    await user.clear(start);
    await user.type(start, "100");
    const step = screen.getByRole("spinbutton", { name: "Seed step" });
    await user.clear(step);
    await user.type(step, "2");
    expect(screen.getByText(/Every prompt uses seeds 100, 102, 104…/)).toBeInTheDocument();

    await user.click(generateButton());
    await waitFor(() => expect(lastCall(mock, "generateBatch")).toBeDefined());
    const [req] = lastCall(mock, "generateBatch") as [BatchRequest];
    expect(req).toEqual({
      prompts: ["A red fox in snow", "The same fox at dusk", "A paper-cut fox"],
      negativePrompt: null,
      model: "Qubico/flux1-schnell",
      width: 1024,
      height: 1024,
      steps: null,
      guidance: null,
      seeds: { kind: "sweep", start: 100, step: 2 },
      countPerPrompt: 8,
    } satisfies BatchRequest);
    // One group per prompt in the results, 24 jobs in all.
    expect(await screen.findAllByRole("article")).toHaveLength(3);
    expect(mock.allJobs).toHaveLength(24);
    expect(mock.calls.filter((c) => c.method === "generate")).toHaveLength(0);
  });

  test("locked seeds and a .txt file of prompts", async () => {
    const { mock } = await renderApp({ keySource: "keychain" });
    const user = userEvent.setup();
    await user.click(screen.getByRole("radio", { name: "Batch" }));
    const file = new File(["\uFEFFfirst prompt\nsecond prompt\n"], "prompts.txt", { type: "text/plain" });
    const input = document.querySelector<HTMLInputElement>("input[type=file]") as HTMLInputElement;
    await user.upload(input, file);
    await waitFor(() => expect(screen.getByLabelText(/^Prompts/)).toHaveValue("first prompt\nsecond prompt"));
    await user.click(screen.getByRole("radio", { name: "2 images" }));
    await user.click(screen.getByRole("radio", { name: "Locked" }));
    const seed = screen.getByRole("spinbutton", { name: "Seed" });
    await user.clear(seed);
    await user.type(seed, "7");
    expect(generateButton().textContent).toMatch(/Generate 4\s*·\s*\$0\.006/);
    await user.keyboard("{Control>}{Enter}{/Control}");
    await waitFor(() => expect(lastCall(mock, "generateBatch")).toBeDefined());
    const [req] = lastCall(mock, "generateBatch") as [BatchRequest];
    expect(req.seeds).toEqual({ kind: "locked", seed: 7 });
    expect(req.countPerPrompt).toBe(2);
  });

  test("an empty batch or one over the limit cannot be sent", async () => {
    await renderApp();
    const user = userEvent.setup();
    await user.click(screen.getByRole("radio", { name: "Batch" }));
    expect(generateButton()).toBeDisabled();
    const many = Array.from({ length: 130 }, (_, i) => `prompt ${i}`).join("\n");
    fireEvent.input(screen.getByLabelText(/^Prompts/), { target: { value: many } });
    await user.click(screen.getByRole("radio", { name: "8 images" }));
    expect(generateButton()).toBeDisabled();
    expect(screen.getByText(/up to 1,000 images \(now 1,040\)/)).toBeInTheDocument();
  });
});
