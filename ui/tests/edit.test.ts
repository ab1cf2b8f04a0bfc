/// <reference types="node" />
// Issue 7 in the UI, against the mock backend: the task chooser (catalog-driven models, counts, cost),
// "Edit" from the gallery (menu, E key, selection bar) into Create with the image as the source, the
// mask painter feeding fill-inpaint, outpaint's budget, sources from the gallery picker / a file / paste,
// and the result's metadata panel linking back to its source.
import { describe, expect, test } from "vitest";
import { fireEvent, screen, waitFor, within } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { inflateSync } from "node:zlib";
import { lastCall, renderApp } from "./helpers";
import type { GenerateRequest, SourceImage } from "../src/lib/backend";
import { app } from "../src/lib/state/app.svelte";
import { form } from "../src/lib/state/create.svelte";
import { mask } from "../src/lib/state/mask.svelte";
import { viewer } from "../src/lib/state/viewer.svelte";
import { gallery } from "../src/lib/state/gallery.svelte";
import { fromBase64, pngSize } from "../src/lib/util/mask";

const generateButton = () => screen.getByRole("button", { name: "Generate" });
const taskRadio = (name: string) => within(screen.getByRole("radiogroup", { name: "Task" })).getByRole("radio", { name });
const modelRadios = () => screen.getAllByRole("radio").filter((r) => (r as HTMLInputElement).name === "model");

/** A real 1×1 PNG (what a clipboard or a drop hands over). */
const PNG_1x1 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

async function openViewerOn(index: number) {
  const user = userEvent.setup();
  await user.click(screen.getByRole("button", { name: "Gallery" }));
  await screen.findAllByRole("gridcell");
  const id = gallery.ids[index];
  const tile = document.querySelector<HTMLButtonElement>(`[data-id="${id}"] button.thumb`) as HTMLButtonElement;
  await user.dblClick(tile);
  await screen.findByRole("dialog", { name: /^Image:/ });
  return { user, id };
}

/** Paints a stroke on the painter's canvas with pointer events (its box stubbed: jsdom has no layout). */
function paintStroke(canvas: HTMLElement) {
  canvas.getBoundingClientRect = () => ({ left: 0, top: 0, width: 200, height: 150, right: 200, bottom: 150, x: 0, y: 0, toJSON: () => ({}) });
  fireEvent.pointerDown(canvas, { clientX: 40, clientY: 50, button: 0, pointerId: 1 });
  fireEvent.pointerMove(canvas, { clientX: 120, clientY: 70, pointerId: 1 });
  fireEvent.pointerUp(canvas, { pointerId: 1 });
}

describe("task chooser", () => {
  test("models, image counts and the cost follow the chosen task", async () => {
    await renderApp({ keySource: "keychain" });
    const user = userEvent.setup();
    await waitFor(() => expect(form.catalog).not.toBeNull());
    expect(taskRadio("Text to image")).toBeChecked();
    expect(modelRadios()).toHaveLength(3);
    await user.type(screen.getByLabelText("Prompt"), "a red fox");
    expect(generateButton().textContent).toMatch(/Generate 4\s*·\s*\$0\.006/);

    // Inpaint: Flux Dev Advanced only, a source and a mask are needed.
    await user.click(taskRadio("Inpaint"));
    expect(modelRadios()).toHaveLength(1);
    expect(modelRadios()[0]).toHaveAccessibleName(/^Flux Dev Advanced, \$0\.02 per image/);
    expect(generateButton().textContent).toMatch(/Generate 4\s*·\s*\$0\.08/);
    expect(screen.getByText("Inpaint runs on Flux Dev Advanced.")).toBeInTheDocument();
    expect(generateButton()).toBeDisabled();
    expect(screen.getByText(/Choose a source image: from the gallery, a file, or paste one/)).toBeInTheDocument();
    // Batch mode (many prompts) is offered for text to image only.
    expect(screen.queryByRole("radiogroup", { name: "Mode" })).toBeNull();

    // Upscale: Schnell or Dev Advanced, one image per source; the chosen Schnell is kept.
    await user.click(taskRadio("Upscale"));
    expect(modelRadios().map((r) => (r as HTMLInputElement).value)).toEqual(["Qubico/flux1-schnell", "Qubico/flux1-dev-advanced"]);
    expect(screen.getByRole("radio", { name: "2 images" })).toBeDisabled();
    expect(generateButton().textContent).toMatch(/Generate 1\s*·\s*\$0\.0015/);

    // Text to image + LoRA: a documented LoRA and a strength; dev-advanced pricing.
    await user.click(taskRadio("Text to image"));
    expect(screen.getByRole("radiogroup", { name: "Mode" })).toBeInTheDocument();
    await user.click(screen.getByRole("checkbox", { name: "LoRA style" }));
    await user.selectOptions(screen.getByRole("combobox", { name: "LoRA" }), "remes-abstract-poster-style");
    expect(generateButton().textContent).toMatch(/Generate 4\s*·\s*\$0\.08/);
    // Upscaling the result cannot be combined with a LoRA.
    expect(screen.getByRole("radio", { name: "2×" })).toBeDisabled();
    expect(generateButton()).toBeEnabled();
  });

  test("Ctrl+Enter on text + LoRA sends txt2img-lora with the LoRA on Flux Dev Advanced", async () => {
    const { mock } = await renderApp();
    const user = userEvent.setup();
    await waitFor(() => expect(form.catalog).not.toBeNull());
    await user.type(screen.getByLabelText("Prompt"), "a poster of a fox");
    await user.click(screen.getByRole("checkbox", { name: "LoRA style" }));
    await user.selectOptions(screen.getByRole("combobox", { name: "LoRA" }), "graphic-portrait");
    fireEvent.input(screen.getByRole("slider", { name: "LoRA strength" }), { target: { value: "1.5" } });
    await user.click(screen.getByRole("radio", { name: "1 image" }));
    await user.click(generateButton());
    await waitFor(() => expect(lastCall(mock, "generate")).toBeDefined());
    const req = lastCall(mock, "generate")?.[0] as GenerateRequest;
    expect(req).toMatchObject({
      prompt: "a poster of a fox",
      model: "Qubico/flux1-dev-advanced",
      count: 1,
      taskType: "txt2img-lora",
      loras: [{ name: "graphic-portrait", strength: 1.5 }],
      source: null,
      control: null,
      scale: null,
    });
  });

  test("a pasted image becomes the source (stage_source), with its size shown", async () => {
    const { mock } = await renderApp();
    const user = userEvent.setup();
    await waitFor(() => expect(form.catalog).not.toBeNull());
    await user.click(taskRadio("Image to image"));
    const file = new File([fromBase64(PNG_1x1) as BlobPart], "clip.png", { type: "image/png" });
    const paste = new Event("paste", { bubbles: true, cancelable: true });
    Object.defineProperty(paste, "clipboardData", { value: { files: [file], items: [] } });
    window.dispatchEvent(paste);
    await screen.findByText(/^1 × 1 · 70 B · /);
    expect(lastCall(mock, "stageSource")?.[0]).toMatch(/^<\d+ base64 chars>$/);
    expect(form.source.source?.path).toMatch(/inputs\/[0-9a-f]+\.png$/);
    // Denoise belongs to image to image.
    expect(screen.getByRole("slider", { name: "Denoise" })).toHaveValue("0.7");
  });

  test("a file that is not an image is refused in plain words; the file dialog and the gallery picker work", async () => {
    const { mock } = await renderApp({ seedGallery: 5 });
    const user = userEvent.setup();
    await waitFor(() => expect(form.catalog).not.toBeNull());
    await user.click(taskRadio("Variation"));
    await form.source.set({ imageId: null, path: "/home/you/notes.txt" });
    expect(await screen.findByRole("alert")).toHaveTextContent("That file is not an image Fluxdesk can read. Choose a PNG, JPEG or WebP file.");

    await user.click(screen.getByRole("button", { name: "Choose file…" }));
    await screen.findByText(/^1600 × 1067 · 403 KB · hillside at dawn\.jpg$/);
    expect(mock.calls.some((c) => c.method === "pickSource")).toBe(true);

    await user.click(screen.getByRole("button", { name: "Gallery…" }));
    const dialog = await screen.findByRole("dialog", { name: "Choose a source image" });
    const picks = await within(dialog).findAllByRole("button", { name: /./ });
    const firstImage = picks.find((b) => b.querySelector("img")) as HTMLElement;
    await user.click(firstImage);
    await waitFor(() => expect(form.source.info?.imageId).not.toBeNull());
    expect(screen.queryByRole("dialog", { name: "Choose a source image" })).toBeNull();
    expect(screen.getByText(/· Gallery #\d+$/)).toBeInTheDocument();
  });

  test("outpaint: the budget is shown, over budget disables Generate, Shrink to fit repairs it", async () => {
    const { mock } = await renderApp({ seedGallery: 3 });
    const user = userEvent.setup();
    await waitFor(() => expect(form.catalog).not.toBeNull());
    await user.click(taskRadio("Outpaint"));
    const id = (await mock.listImages({ text: null, model: null, minRating: null, favouritesOnly: false, sort: "newest", limit: 10, cursor: null })).items[0].id;
    await form.source.fromImage(id);
    await user.type(screen.getByLabelText("Prompt"), "more of the landscape");
    await screen.findByText(/^Adds [\d,]+ of 1,048,576 px · output/);
    expect(generateButton()).toBeEnabled();

    const top = screen.getByRole("spinbutton", { name: "Top margin" });
    await user.clear(top);
    await user.type(top, "900");
    const bottom = screen.getByRole("spinbutton", { name: "Bottom margin" });
    await user.clear(bottom);
    await user.type(bottom, "900");
    const shown = await screen.findAllByText(/^The margins add [\d,]+ px; the limit is 1,048,576 px\. Make them smaller\./);
    // Inline under the margins, and again as the reason Generate is disabled.
    expect(shown.some((el) => el.getAttribute("role") === "alert")).toBe(true);
    expect(generateButton()).toBeDisabled();
    expect(screen.getByRole("meter", { name: "Added pixels" })).toBeInTheDocument();

    await user.click(screen.getByRole("button", { name: "Shrink to fit" }));
    await waitFor(() => expect(generateButton()).toBeEnabled());
    await user.click(generateButton());
    const req = lastCall(mock, "generate")?.[0] as GenerateRequest;
    expect(req.taskType).toBe("fill-outpaint");
    expect(req.source).toEqual({ imageId: id, path: null });
    expect(req.outpaint?.top).toBe(req.outpaint?.bottom);
    expect(req.outpaint?.top).toBeGreaterThan(0);
  });
});

describe("Edit from the gallery", () => {
  test("Edit → Inpaint → paint → Generate: the result links back to its source", async () => {
    const { mock } = await renderApp({ seedGallery: 6 });
    const { user, id } = await openViewerOn(1);
    const source = (await mock.getImage(id)).prompt;

    await user.click(screen.getByRole("button", { name: "Edit…" }));
    const menu = await screen.findByRole("menu", { name: "Edit as" });
    expect(within(menu).getAllByRole("menuitem").map((m) => m.textContent?.replace(/\s+/g, " ").trim().split(" ").slice(0, 2).join(" "))).toEqual([
      "Image to",
      "Inpaint Repaint",
      "Outpaint Extend",
      "Kontext edit",
      "Variation A",
      "Upscale Enlarge",
    ]);
    await user.click(within(menu).getByRole("menuitem", { name: /^Inpaint/ }));

    // Create, with the image as the source and Inpaint chosen (edit_settings).
    await waitFor(() => expect(app.route).toBe("create"));
    expect(viewer.open).toBe(false);
    expect(lastCall(mock, "editSettings")).toEqual([id, "fill-inpaint"]);
    expect(taskRadio("Inpaint")).toBeChecked();
    expect(screen.getByLabelText("Prompt")).toHaveValue(source);
    const canvas = await screen.findByLabelText("Mask painter: paint over the area to repaint");
    expect(generateButton()).toBeDisabled();
    expect(screen.getByText("Paint over the area to repaint.")).toBeInTheDocument();

    paintStroke(canvas);
    await waitFor(() => expect(mask.painted).toBeGreaterThan(0));
    expect(screen.getByText(/% of the image will be repainted/)).toBeInTheDocument();
    // Undo (Ctrl+Z) takes the stroke back; painting again brings Generate back.
    fireEvent.keyDown(window, { key: "z", ctrlKey: true });
    await waitFor(() => expect(mask.painted).toBe(0));
    expect(generateButton()).toBeDisabled();
    paintStroke(canvas);
    await waitFor(() => expect(generateButton()).toBeEnabled());

    await user.click(generateButton());
    await waitFor(() => expect(lastCall(mock, "generate")).toBeDefined());
    const req = lastCall(mock, "generate")?.[0] as GenerateRequest;
    expect(req.taskType).toBe("fill-inpaint");
    expect(req.model).toBe("Qubico/flux1-dev-advanced");
    expect(req.source).toEqual<SourceImage>({ imageId: id, path: null });
    // The mask: a PNG at the source's pixel size, white where painted.
    const png = fromBase64(req.mask?.pngBase64 ?? "");
    const im = await mock.getImage(id);
    expect(pngSize(png)).toEqual({ width: im.width, height: im.height });
    const idat = Buffer.from(png).indexOf("IDAT");
    expect(idat).toBeGreaterThan(0);
    const raw = inflateSync(Buffer.from(png.subarray(idat + 4, Buffer.from(png).indexOf("IEND") - 8)));
    expect(raw.includes(255)).toBe(true);

    // The result's metadata panel shows the task and links to the source image.
    const jobId = mock.allJobs[0].id;
    mock.finish(jobId);
    const result = await waitFor(() => {
      const j = mock.allJobs.find((x) => x.id === jobId);
      if (!j?.images[0]) throw new Error("not saved yet");
      return j.images[0];
    });
    expect(result.sourceImageId).toBe(id);
    viewer.show([result.id], result.id);
    const dialog = await screen.findByRole("dialog", { name: /^Image:/ });
    expect(within(dialog).getByText("Type")).toBeInTheDocument();
    expect(within(dialog).getByText("Inpaint")).toBeInTheDocument();
    const link = await within(dialog).findByRole("button", { name: "Open source image" });
    await user.click(link);
    expect(viewer.current).toBe(id);
    expect(screen.getByRole("dialog", { name: `Image: ${source}` })).toBeInTheDocument();
  });

  test("E on a focused tile and the selection bar's Edit open the same menu", async () => {
    const { mock } = await renderApp({ seedGallery: 4 });
    const user = userEvent.setup();
    await user.click(screen.getByRole("button", { name: "Gallery" }));
    await screen.findAllByRole("gridcell");
    const id = gallery.ids[0];
    const tile = document.querySelector<HTMLButtonElement>(`[data-id="${id}"] button.thumb`) as HTMLButtonElement;
    await user.click(tile);
    await user.keyboard("e");
    let menu = await screen.findByRole("menu", { name: "Edit as" });
    await user.keyboard("{Escape}");
    await waitFor(() => expect(screen.queryByRole("menu")).toBeNull());

    await user.click(screen.getByRole("button", { name: "Edit selected image" }));
    menu = await screen.findByRole("menu", { name: "Edit as" });
    // Number keys choose: 6 = Upscale.
    fireEvent.keyDown(menu, { key: "6" });
    await waitFor(() => expect(app.route).toBe("create"));
    expect(lastCall(mock, "editSettings")).toEqual([id, "img2img-sr"]);
    expect(taskRadio("Upscale")).toBeChecked();
    expect(screen.getByRole("radio", { name: "2×" })).toBeChecked();
  });

  test("the viewer's E opens Edit and Ctrl+E exports", async () => {
    await renderApp({ seedGallery: 3 });
    const { user } = await openViewerOn(0);
    await user.keyboard("e");
    await screen.findByRole("menu", { name: "Edit as" });
    await user.keyboard("{Escape}");
    await waitFor(() => expect(screen.queryByRole("menu")).toBeNull());
    await user.keyboard("{Control>}e{/Control}");
    await screen.findByRole("dialog", { name: /Export/ });
  });
});
