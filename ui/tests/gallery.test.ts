import { describe, expect, test } from "vitest";
import { cleanup, fireEvent, screen, waitFor, within } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { lastCall, openGallery, renderApp } from "./helpers";
import { SAMPLE_PROMPTS } from "../src/lib/util/samples";
import { BackendError, type GalleryQuery } from "../src/lib/backend";
import { gallery } from "../src/lib/state/gallery.svelte";
import { PRUNE_ABOVE, images } from "../src/lib/state/images.svelte";
import { altText } from "../src/lib/util/format";

const grid = () => screen.getByRole("grid", { name: "Images" });
const scroller = () => grid().parentElement as HTMLElement;
const cells = () => within(grid()).getAllByRole("gridcell");
const cellOf = (id: number) => grid().querySelector<HTMLElement>(`[data-id="${id}"]`);
const tile = (id: number) => cellOf(id)?.querySelector<HTMLButtonElement>("button.thumb") as HTMLButtonElement;
const thumbOf = (id: number) => cellOf(id)?.querySelector("img")?.getAttribute("src");
const focusedId = () => Number((document.activeElement as HTMLElement | null)?.closest("[data-id]")?.getAttribute("data-id"));
/** Where a tile is on screen: its row's top minus the scroll position, and its left. */
function screenPos(id: number): { top: number; left: number } {
  const cell = cellOf(id) as HTMLElement;
  const row = cell.parentElement as HTMLElement;
  return { top: parseFloat(row.style.top) - scroller().scrollTop, left: parseFloat(cell.style.left) };
}
function scrollTo(top: number) {
  scroller().scrollTop = top;
  fireEvent.scroll(scroller());
}
const queries = (mock: { calls: { method: string }[] }) => mock.calls.filter((c) => c.method === "listImages").length;

describe("Gallery", () => {
  test("a scrolled grid asks for the next page well before its end; an unscrolled one waits", async () => {
    const { mock } = await openGallery(1000);
    const loaded = gallery.ids.length;
    const pagesAfterCursor = () =>
      mock.calls.filter((c) => c.method === "listImages" && (c.args[0] as GalleryQuery).cursor != null).length;
    const lastRendered = () => Math.max(...cells().map((c) => Number(c.getAttribute("data-id") ? gallery.ids.indexOf(Number(c.getAttribute("data-id"))) : -1)));
    // At the top the first screen has the machine to itself: the end of the page is more than two rows away.
    await new Promise((r) => setTimeout(r, 50));
    expect(pagesAfterCursor()).toBe(0);
    expect(loaded - 1 - lastRendered()).toBeGreaterThan(gallery.cols * 2);
    // Scrolled by a pixel, the same distance is within PAGE_AHEAD: the next page is asked for now.
    scrollTo(1);
    await waitFor(() => expect(pagesAfterCursor()).toBe(1));
    expect(loaded - 1 - lastRendered()).toBeGreaterThan(gallery.cols * 2);
    await waitFor(() => expect(gallery.ids.length).toBeGreaterThan(loaded));
  });

  test("an empty gallery suggests a first prompt", async () => {
    const { user } = await openGallery(0);
    await screen.findByText("Your gallery is empty");
    await user.click(screen.getByRole("button", { name: "Try this prompt" }));
    expect(screen.getByLabelText("Prompt")).toHaveValue(SAMPLE_PROMPTS[0]);
  });

  test("virtualization: 10,000 images render a bounded number of tiles and pages load as you scroll", async () => {
    const { mock } = await openGallery(10_000);
    expect(screen.getByText("10,000 images")).toBeInTheDocument();
    const first = cells();
    expect(first.length).toBeGreaterThan(8);
    expect(first.length).toBeLessThanOrEqual(48);
    for (const img of within(grid()).getAllByRole("img")) expect(img.getAttribute("alt")).toBeTruthy();
    expect((lastCall(mock, "listImages")?.[0] as GalleryQuery).cursor).toBeNull();
    // The spacer is as tall as all 10,000 (2,500 rows of 4 in the 1024 px fallback width).
    expect(parseFloat(grid().style.height)).toBeGreaterThan(2500 * 200);

    // Jump a quarter down: keyset pages are fetched in order until the visible rows are loaded.
    scrollTo(parseFloat(grid().style.height) / 4);
    await waitFor(() => expect(grid().querySelectorAll("[aria-busy=true]")).toHaveLength(0), { timeout: 5000 });
    const after = cells();
    expect(after.length).toBeLessThanOrEqual(48);
    const ids = after.map((c) => Number(c.getAttribute("data-id")));
    // Newest first: ids count down from 10,000; a quarter down is around 7,500.
    expect(Math.max(...ids)).toBeLessThan(8000);
    expect(Math.min(...ids)).toBeGreaterThan(7000);
    const cursors = mock.calls.filter((c) => c.method === "listImages").map((c) => (c.args[0] as GalleryQuery).cursor);
    expect(cursors.filter(Boolean).length).toBeGreaterThan(1);
  });

  test("the page keeps the images near the viewport only; scrolled back, tiles ask for theirs again", async () => {
    const { mock } = await openGallery(10_000);
    // Three quarters down: ~7,500 images are paged in on the way, far more than the store keeps.
    scrollTo((parseFloat(grid().style.height) * 3) / 4);
    await waitFor(() => expect(grid().querySelectorAll("[aria-busy=true]")).toHaveLength(0), { timeout: 5000 });
    await waitFor(() => expect(images.size).toBeLessThanOrEqual(PRUNE_ABOVE));
    expect(gallery.ids.length).toBeGreaterThan(7000);
    expect(images.get(gallery.ids[0])).toBeUndefined();
    // Meanwhile an image at the top was removed outside this window (another process, say).
    const [top, gone] = gallery.ids;
    (mock as unknown as { images: Map<number, unknown> }).images.delete(gone);
    // Back at the top: the first rows' images are asked for by id, then shown; the removed one leaves the list.
    scrollTo(0);
    await waitFor(() => expect(lastCall(mock, "getImages")?.[0] as number[]).toContain(top), { timeout: 5000 });
    await waitFor(() => expect(thumbOf(top)).toBe(images.thumbUrl(images.get(top)!)));
    await waitFor(() => expect(gallery.ids).not.toContain(gone));
    expect(cellOf(gone)).toBeNull();
    expect(grid().querySelectorAll("[aria-busy=true]")).toHaveLength(0);
  });

  test("when images scrolled back to cannot be read again, the gallery says so; Try again shows them", async () => {
    const { mock, user } = await openGallery(10_000);
    scrollTo((parseFloat(grid().style.height) * 3) / 4);
    await waitFor(() => expect(grid().querySelectorAll("[aria-busy=true]")).toHaveLength(0), { timeout: 5000 });
    const back = gallery.ids[40 * gallery.cols];
    await waitFor(() => expect(images.get(back)).toBeUndefined());
    // The database goes away meanwhile (a disk unmounted, say).
    const getImages = mock.getImages.bind(mock);
    let failing = true;
    mock.getImages = async (ids: number[]) => {
      if (failing) throw new BackendError("DatabaseUnusable", "The gallery's index could not be read.");
      return getImages(ids);
    };
    scrollTo(40 * gallery.rowH + 10);
    const notice = await screen.findByText(/Some images could not be shown\. The gallery's index could not be read\./);
    // Once the rows have settled (the overscan comes a frame later), nothing asks again by itself…
    await new Promise((r) => setTimeout(r, 300));
    const asked = mock.calls.filter((c) => c.method === "getImages").length;
    failing = false;
    await new Promise((r) => setTimeout(r, 300));
    expect(mock.calls.filter((c) => c.method === "getImages")).toHaveLength(asked);
    expect(grid().querySelectorAll("[aria-busy=true]").length).toBeGreaterThan(0);
    expect(gallery.ids.length).toBeGreaterThan(7000); // nothing lost: the tiles wait
    // …until Try again.
    await user.click(within(notice.closest("[role=alert]") as HTMLElement).getByRole("button", { name: "Try again" }));
    await waitFor(() => expect(grid().querySelectorAll("[aria-busy=true]")).toHaveLength(0));
    expect(screen.queryByText(/Some images could not be shown/)).toBeNull();
    expect(thumbOf(back)).toBe(images.thumbUrl(images.get(back)!));
  });

  test("a new image is prepended without moving what the user is looking at", async () => {
    const { mock } = await openGallery(200);
    // 4 columns, square rows; scroll ten rows down and remember a tile's place on screen.
    scrollTo(2600);
    await waitFor(() => expect(cellOf(160)).not.toBeNull());
    const watched = 160; // index 40, newest first
    const before = screenPos(watched);
    const count = gallery.total;

    const fresh = mock.addImage("A brand new lighthouse at dawn");
    await waitFor(() => expect(gallery.total).toBe(count + 1));
    expect(gallery.ids[0]).toBe(fresh.id);
    await waitFor(() => expect(screenPos(watched)).toEqual(before));
    expect(scroller().scrollTop).toBeGreaterThan(2600);

    // The next ones fill the gap at the front: still no movement, no scroll change.
    const top = scroller().scrollTop;
    mock.addImage("Another lighthouse");
    mock.addImage("A third lighthouse");
    await waitFor(() => expect(gallery.total).toBe(count + 3));
    expect(screenPos(watched)).toEqual(before);
    expect(scroller().scrollTop).toBe(top);

    // At the top, new images are simply shown first.
    scrollTo(0);
    await waitFor(() => expect(cellOf(fresh.id)).not.toBeNull());
    const shown = cells().map((c) => within(c).queryByRole("img")?.getAttribute("alt"));
    expect(shown.slice(0, 3)).toEqual(["A third lighthouse", "Another lighthouse", "A brand new lighthouse at dawn"]);
  });

  test("a tile keeps its element while its image stays in the row; the keyboard focus follows its image", async () => {
    const { mock } = await openGallery(40);
    // Every tile shows its own thumbnail (set once the tile is in the page: see util/attach).
    for (const id of gallery.ids.slice(0, gallery.cols)) expect(thumbOf(id)).toBe(images.thumbUrl(images.get(id)!));
    const cols = gallery.cols;
    const stays = gallery.ids[1];
    const staysEl = cellOf(stays);
    const last = gallery.ids[cols - 1]; // the end of the first row: a prepend moves it to the next row
    tile(last).focus();
    expect(focusedId()).toBe(last);
    const lastEl = cellOf(last);
    const alt = within(lastEl as HTMLElement).getByRole("img").getAttribute("alt");
    // At the top a new image is simply shown first: every image moves one place on.
    const fresh = mock.addImage("A brand new lighthouse at dawn");
    await waitFor(() => expect(gallery.ids[0]).toBe(fresh.id));
    await waitFor(() => expect(cellOf(fresh.id)).not.toBeNull());
    // Still in the first row: the same element, moved one place (its thumbnail stays loaded).
    expect(cellOf(stays)).toBe(staysEl);
    // The new image took over the element of the one that left the row, updated in place (its thumbnail too)…
    expect(cellOf(fresh.id)).toBe(lastEl);
    await waitFor(() => expect(thumbOf(fresh.id)).toBe(images.thumbUrl(fresh)));
    // …and the focus went with its image to the next row.
    await waitFor(() => expect(focusedId()).toBe(last));
    expect(gallery.focusId).toBe(last);
    expect(within(cellOf(last) as HTMLElement).getByRole("img").getAttribute("alt")).toBe(alt);
  });

  test("scrolling reuses the rows' elements: a row scrolled into view takes over one scrolled out, showing its own images", async () => {
    await openGallery(400);
    const rowEls = () => [...grid().querySelectorAll<HTMLElement>("[role=row]")];
    // A few rows down first, so rows above the viewport are rendered too (as during any scroll).
    scrollTo(3 * gallery.rowH + 10);
    await waitFor(() => expect(cellOf(gallery.ids[gallery.cols])).not.toBeNull());
    await new Promise((r) => setTimeout(r, 50));
    const before = new Set(rowEls());
    expect(before.size).toBeGreaterThan(2);
    const cellEls = new Set(cells());
    // Twenty rows further: none of the rows shown before is still in view.
    scrollTo(23 * gallery.rowH + 10);
    await waitFor(() => expect(cellOf(gallery.ids[23 * gallery.cols])).not.toBeNull());
    await waitFor(() => expect(grid().querySelectorAll("[aria-busy=true]")).toHaveLength(0));
    const after = rowEls();
    expect(after.length).toBeLessThanOrEqual(before.size);
    // The same elements (and their tiles), updated in place, not torn down and built again…
    for (const row of after) expect(before.has(row)).toBe(true);
    for (const cell of cells()) expect(cellEls.has(cell)).toBe(true);
    // …in row order, each where its row is, each tile showing its own image.
    const indexes = after.map((r) => Number(r.getAttribute("aria-rowindex")));
    expect(indexes).toEqual([...indexes].sort((a, b) => a - b));
    expect(indexes[0]).toBeGreaterThan(15);
    const pad = parseFloat(after[0].style.top) - (indexes[0] - 1) * gallery.rowH;
    for (const row of after) {
      const r = Number(row.getAttribute("aria-rowindex")) - 1;
      expect(parseFloat(row.style.top)).toBeCloseTo(pad + r * gallery.rowH, 3);
      within(row)
        .getAllByRole("gridcell")
        .forEach((cell, col) => {
          const id = gallery.ids[r * gallery.cols + col - gallery.lead];
          expect(Number(cell.getAttribute("data-id"))).toBe(id);
          expect(within(cell).getByRole("img").getAttribute("src")).toBe(images.thumbUrl(images.get(id)!));
          expect(within(cell).getByRole("img").getAttribute("alt")).toBe(altText(images.get(id)!));
        });
    }
  });

  test("images saved while another place is open are there on return, at the same scroll position", async () => {
    const { mock, user } = await openGallery(200);
    scrollTo(2600);
    await waitFor(() => expect(cellOf(160)).not.toBeNull());
    const before = screenPos(160);
    await user.click(screen.getByRole("button", { name: "Create" }));
    const fresh = mock.addImage("Saved while away");
    await user.click(screen.getByRole("button", { name: "Gallery" }));
    await waitFor(() => expect(cellOf(160)).not.toBeNull());
    expect(gallery.ids[0]).toBe(fresh.id);
    expect(screen.getByText("201 images")).toBeInTheDocument();
    await waitFor(() => expect(screenPos(160)).toEqual(before));
  });

  test("rating updates in place: no reload, no reordering, even when sorted by rating", async () => {
    const { mock, user } = await openGallery(40);
    await user.selectOptions(screen.getByRole("combobox", { name: "Sort" }), "rating");
    await waitFor(() => expect((lastCall(mock, "listImages")?.[0] as GalleryQuery).sort).toBe("rating"));
    await waitFor(() => expect(cells().length).toBeGreaterThan(4));
    const order = () => cells().map((c) => c.getAttribute("data-id"));
    const before = order();
    const loads = queries(mock);
    const last = Number(before[before.length - 1]);
    tile(last).focus();
    await user.keyboard("5");
    expect(lastCall(mock, "setRating")).toEqual([[last], 5]);
    await waitFor(() => expect(within(cellOf(last) as HTMLElement).getByText("★ 5")).toBeInTheDocument());
    expect(order()).toEqual(before);
    expect(queries(mock)).toBe(loads);
  });

  test("keyboard culling: arrows move in 2D, 1–5/0 rate, F favourites, Delete trashes with Undo", async () => {
    const { mock, user } = await openGallery(24);
    const ids = () => gallery.ids;
    tile(ids()[0]).focus();
    await user.keyboard("{ArrowRight}");
    expect(focusedId()).toBe(ids()[1]);
    await user.keyboard("{ArrowDown}");
    const target = ids()[5];
    expect(focusedId()).toBe(target);
    await user.keyboard("{ArrowLeft}{ArrowRight}");
    expect(focusedId()).toBe(target);

    await user.keyboard("3");
    expect(lastCall(mock, "setRating")).toEqual([[target], 3]);
    await user.keyboard("0");
    expect(lastCall(mock, "setRating")).toEqual([[target], 0]);
    await user.keyboard("f");
    expect(lastCall(mock, "setFavourite")).toEqual([[target], true]);
    await user.keyboard("F");
    expect(lastCall(mock, "setFavourite")).toEqual([[target], false]);

    await user.keyboard("{Enter}");
    const dialog = await screen.findByRole("dialog", { name: /^Image:/ });
    await user.keyboard("{Escape}");
    await waitFor(() => expect(dialog).not.toBeInTheDocument());
    await waitFor(() => expect(focusedId()).toBe(target));

    const next = ids()[6];
    await user.keyboard("{Delete}");
    expect(lastCall(mock, "deleteImages")).toEqual([[target]]);
    await screen.findByText("Image moved to the Trash.");
    await waitFor(() => expect(cellOf(target)).toBeNull());
    expect(screen.getByText("23 images")).toBeInTheDocument();
    await waitFor(() => expect(focusedId()).toBe(next));

    await user.click(screen.getByRole("button", { name: "Undo" }));
    await waitFor(() => expect(lastCall(mock, "undoDelete")).toEqual(["undo-1"]));
    await waitFor(() => expect(cellOf(target)).not.toBeNull());
    expect(screen.getByText("24 images")).toBeInTheDocument();
  });

  test("multi-select: Shift-click ranges, Ctrl-click toggles, Ctrl+A selects all N; the bar acts on the selection", async () => {
    const { mock, user } = await openGallery(300);
    const ids = [...gallery.ids];
    await user.click(tile(ids[0]));
    await user.keyboard("{Shift>}");
    await user.click(tile(ids[3]));
    await user.keyboard("{/Shift}");
    const bar = () => screen.getByRole("toolbar", { name: "Selection" });
    expect(within(bar()).getByText(/4\s+selected/)).toBeInTheDocument();
    await user.keyboard("{Control>}");
    await user.click(tile(ids[6]));
    await user.keyboard("{/Control}");
    await user.keyboard("{Shift>}");
    await user.click(tile(ids[8]));
    await user.keyboard("{/Shift}");
    expect(within(bar()).getByText(/7\s+selected/)).toBeInTheDocument();
    expect(cells().filter((c) => c.getAttribute("aria-selected") === "true").map((c) => Number(c.getAttribute("data-id")))).toEqual([
      ids[0], ids[1], ids[2], ids[3], ids[6], ids[7], ids[8],
    ]);
    // The "Select" check toggles too.
    await user.click(within(cellOf(ids[7]) as HTMLElement).getByRole("button", { name: "Select" }));
    expect(within(bar()).getByText(/6\s+selected/)).toBeInTheDocument();

    await user.click(within(bar()).getByRole("button", { name: "4 stars" }));
    expect(lastCall(mock, "setRating")).toEqual([[ids[0], ids[1], ids[2], ids[3], ids[6], ids[8]], 4]);

    // Ctrl+A: all 300 (only 200 are loaded): actions page through the filtered set.
    tile(ids[0]).focus();
    await user.keyboard("{Control>}a{/Control}");
    expect(within(bar()).getByText(/All 300\s+selected/)).toBeInTheDocument();
    await user.click(within(bar()).getByRole("button", { name: "Favourite" }));
    await waitFor(() => expect((lastCall(mock, "setFavourite")?.[0] as number[]).length).toBe(300));

    await user.click(within(bar()).getByRole("button", { name: "Delete" }));
    await waitFor(() => expect((lastCall(mock, "deleteImages")?.[0] as number[]).length).toBe(300));
    await screen.findByText("300 images moved to the Trash.");
    await user.keyboard("{Control>}z{/Control}");
    await waitFor(() => expect(lastCall(mock, "undoDelete")).toBeDefined());
    await screen.findByText("300 images");
  });

  test("filters produce the right query; every edit queries at once, the latest wins, and highlights", async () => {
    const { mock, user } = await openGallery(24);
    await user.selectOptions(screen.getByRole("combobox", { name: "Model" }), "Qubico/flux1-dev");
    await user.selectOptions(screen.getByRole("combobox", { name: "Date" }), "7d");
    await user.click(screen.getByRole("radio", { name: "Portrait" }));
    await user.selectOptions(screen.getByRole("combobox", { name: "Minimum rating" }), "4");
    await user.click(screen.getByRole("button", { name: "Favourites" }));
    const calls = queries(mock);
    const search = screen.getByRole("searchbox", { name: "Search" });
    // Every edit queries at once (no waiting for the one in flight: its answer is dropped).
    fireEvent.input(search, { target: { value: "mis" } });
    fireEvent.input(search, { target: { value: "misty fo" } });
    fireEvent.input(search, { target: { value: "misty forest" } });
    await waitFor(() => expect(gallery.appliedText).toBe("misty forest"));
    await new Promise((r) => setTimeout(r, 200));
    const texts = mock.calls.filter((c) => c.method === "listImages").slice(-3).map((c) => (c.args[0] as GalleryQuery).text);
    expect(queries(mock) - calls).toBe(3);
    expect(texts).toEqual(["mis", "misty fo", "misty forest"]);
    const q = lastCall(mock, "listImages")?.[0] as GalleryQuery;
    const d = new Date();
    const weekAgo = new Date(d.getFullYear(), d.getMonth(), d.getDate() - 6).toISOString();
    expect(q).toEqual({
      text: "misty forest",
      model: "Qubico/flux1-dev",
      minRating: 4,
      favouritesOnly: true,
      sort: "newest",
      // The first page: two viewports of tiles, at least 48; it never waits for an expensive count.
      limit: 48,
      cursor: null,
      createdAfter: weekAgo,
      createdBefore: null,
      aspect: "portrait",
      count: false,
    } satisfies GalleryQuery);

    await user.click(screen.getAllByRole("button", { name: "Clear filters" })[0]);
    await user.selectOptions(screen.getByRole("combobox", { name: "Date" }), "custom");
    for (const [label, value] of [["From", "2025-03-01"], ["To", "2025-03-31"]]) {
      const input = screen.getByLabelText(label);
      fireEvent.input(input, { target: { value } });
      fireEvent.change(input);
    }
    await waitFor(() => {
      const c = lastCall(mock, "listImages")?.[0] as GalleryQuery;
      expect(c.createdAfter).toBe(new Date(2025, 2, 1).toISOString());
      expect(c.createdBefore).toBe(new Date(2025, 3, 1).toISOString());
    });

    await user.selectOptions(screen.getByRole("combobox", { name: "Date" }), "all");
    await user.type(screen.getByRole("searchbox", { name: "Search" }), "fox");
    await waitFor(() => expect(screen.getByText("2 images")).toBeInTheDocument());
    for (const c of cells()) {
      expect(within(c).getByRole("img").getAttribute("alt")).toMatch(/fox/i);
      expect(c.querySelector("mark")?.textContent?.toLowerCase()).toBe("fox");
    }
    await user.clear(screen.getByRole("searchbox", { name: "Search" }));
    await user.type(screen.getByRole("searchbox", { name: "Search" }), "zzzz");
    await screen.findByText("No images match");
  });

  test("typing: every keystroke queries at once, the latest text wins, stale results never paint", async () => {
    const { mock } = await openGallery(60, { latencyMs: 30 });
    const search = screen.getByRole("searchbox", { name: "Search" });
    const before = mock.calls.length;
    const applied: string[] = [];
    const sampler = setInterval(() => applied.push(gallery.appliedText), 1);
    fireEvent.input(search, { target: { value: "f" } });
    // Asked for at once (no timer in between).
    expect(mock.calls.slice(before).filter((c) => c.method === "listImages")).toHaveLength(1);
    // Not waiting for the answer to "f" (in flight for 30 ms): each keystroke's query goes out at once.
    fireEvent.input(search, { target: { value: "fo" } });
    fireEvent.input(search, { target: { value: "fox" } });
    expect(mock.calls.slice(before).filter((c) => c.method === "listImages")).toHaveLength(3);
    await waitFor(() => expect(gallery.appliedText).toBe("fox"));
    await new Promise((r) => setTimeout(r, 100));
    clearInterval(sampler);
    const texts = mock.calls.slice(before).filter((c) => c.method === "listImages").map((c) => (c.args[0] as GalleryQuery).text);
    expect(texts).toEqual(["f", "fo", "fox"]);
    // The responses for "f" and "fo" arrived after "fox" was typed: they were dropped, never shown.
    expect(applied).not.toContain("f");
    expect(applied).not.toContain("fo");
    for (const c of cells()) expect(within(c).getByRole("img").getAttribute("alt")).toMatch(/fox/i);
  });

  test("the app opens where the designer was last time; in the gallery the first page is asked for first", async () => {
    await openGallery(30);
    expect(localStorage.getItem("fluxdesk.lastScreen")).toBe("gallery");
    cleanup();
    const { mock } = await renderApp({ seedGallery: 30 });
    await screen.findByRole("heading", { name: "Gallery" });
    await screen.findAllByRole("gridcell");
    const methods = mock.calls.map((c) => c.method);
    expect(methods[0]).toBe("listImages");
    expect(methods.filter((m) => m === "listImages")).toHaveLength(1);
    // Settings is a detour: it is not where the app opens.
    await userEvent.setup().click(screen.getByRole("button", { name: "Settings" }));
    expect(localStorage.getItem("fluxdesk.lastScreen")).toBe("gallery");
  });

  test("dragging a tile out starts a native drag of its file (no HTML5 drag image)", async () => {
    const { mock } = await openGallery(12);
    const id = gallery.ids[2];
    const ev = new Event("dragstart", { bubbles: true, cancelable: true });
    tile(id).dispatchEvent(ev);
    expect(ev.defaultPrevented).toBe(true);
    await waitFor(() => expect(lastCall(mock, "dragOut")).toEqual([[id]]));
  });

  test("files dropped on the window are imported, with counts in a toast", async () => {
    const { mock } = await openGallery(3);
    mock.simulateFileDrop(["/home/you/Downloads/a.png", "/home/you/Downloads/moodboard", "/home/you/notes.pdf"]);
    await waitFor(() => expect(lastCall(mock, "importPaths")).toEqual([["/home/you/Downloads/a.png", "/home/you/Downloads/moodboard", "/home/you/notes.pdf"]]));
    await screen.findByText("Imported 4 images · 1 could not be read.");
    await screen.findByText("7 images");
    mock.simulateFileDrop(["/home/you/Downloads/a.png"]);
    await screen.findByText("Imported 0 images · 1 already in the gallery.");
  });

  test("export the selection as JPEG with a quality, into a chosen folder; the toast reveals it", async () => {
    const { mock, user } = await openGallery(6);
    const ids = gallery.ids;
    await user.keyboard("{Control>}");
    await user.click(tile(ids[0]));
    await user.click(tile(ids[1]));
    await user.keyboard("{/Control}");
    await user.click(screen.getByRole("button", { name: "Export" }));
    const dialog = await screen.findByRole("dialog", { name: "Export 2 images" });
    await user.click(within(dialog).getByRole("radio", { name: "JPEG" }));
    fireEvent.input(within(dialog).getByLabelText("Quality"), { target: { value: "72" } });
    await user.click(within(dialog).getByRole("button", { name: "Choose…" }));
    expect(lastCall(mock, "pickFolder")).toBeDefined();
    await user.click(within(dialog).getByRole("button", { name: "Export 2 images" }));
    await waitFor(() =>
      expect(lastCall(mock, "exportImages")).toEqual([{ ids: [ids[0], ids[1]], destDir: "/home/you/Pictures/Fluxdesk Exports", format: "jpeg", quality: 72 }]),
    );
    await screen.findByText(/Exported 2 images as JPEG/);
    await user.click(screen.getByRole("button", { name: "Reveal" }));
    expect(lastCall(mock, "revealExport")).toEqual([`/home/you/Pictures/Fluxdesk Exports/fluxdesk-${String(ids[0]).padStart(5, "0")}.jpg`]);
  });
});

describe("Large view", () => {
  test("rates, favourites, steps through the result list loading more pages, and deletes", async () => {
    const { mock, user } = await openGallery(205);
    const ids = gallery.ids;
    tile(ids[0]).focus();
    await user.keyboard("{Enter}");
    const dialog = await screen.findByRole("dialog", { name: /^Image:/ });
    const prompt = (await within(dialog).findByRole("img")).getAttribute("alt") ?? "";
    expect(within(dialog).getByText(prompt)).toBeInTheDocument();
    expect(within(dialog).getByText("1 / 205")).toBeInTheDocument();
    for (const label of ["Model", "Size", "Seed", "Steps", "Guidance", "Cost", "Task", "Created"]) {
      expect(within(dialog).getByText(label)).toBeInTheDocument();
    }

    await user.keyboard("3");
    expect(lastCall(mock, "setRating")).toEqual([[ids[0]], 3]);
    expect(within(dialog).getByRole("button", { name: "3 stars" })).toHaveAttribute("aria-pressed", "true");
    await user.click(within(dialog).getByRole("button", { name: "Favourite" }));
    expect(lastCall(mock, "setFavourite")).toEqual([[ids[0]], true]);

    // Zoom: fit by default, 100 % on request, Z toggles back.
    expect(within(dialog).getByRole("button", { name: "Fit" })).toHaveAttribute("aria-pressed", "true");
    await user.click(within(dialog).getByRole("button", { name: "100 %" }));
    expect(within(dialog).getByRole("button", { name: "100 %" })).toHaveAttribute("aria-pressed", "true");
    await user.keyboard("z");
    expect(within(dialog).getByRole("button", { name: "Fit" })).toHaveAttribute("aria-pressed", "true");

    // Copy buttons and actions reach the backend.
    await user.click(within(dialog).getByRole("button", { name: "Copy image" }));
    expect(lastCall(mock, "copyImage")).toEqual([ids[0]]);
    await user.click(within(dialog).getByRole("button", { name: "Reveal" }));
    expect(lastCall(mock, "revealImage")).toEqual([ids[0]]);

    // Step past the end of the (small) first page: the next pages load, and stepping goes on into them.
    const loads = queries(mock);
    expect(gallery.ids.length).toBeLessThan(200);
    for (let i = 0; i < 199; i++) await user.keyboard("{ArrowRight}");
    await within(dialog).findByText("200 / 205");
    await waitFor(() => expect(gallery.ids).toHaveLength(205));
    expect(queries(mock)).toBeGreaterThan(loads);
    await user.keyboard("{ArrowRight}{ArrowRight}");
    await within(dialog).findByText("202 / 205");

    const shown = gallery.ids[201];
    await user.click(within(dialog).getByRole("button", { name: "Delete" }));
    expect(lastCall(mock, "deleteImages")).toEqual([[shown]]);
    await screen.findByText("Image moved to the Trash.");
    await within(dialog).findByText("202 / 204");
    await user.keyboard("{Escape}");
    await waitFor(() => expect(screen.queryByRole("dialog")).toBeNull());
  });

  test("Vary queues new images with the chosen count", async () => {
    const { mock, user } = await openGallery(3);
    tile(gallery.ids[0]).focus();
    await user.keyboard("{Enter}");
    const dialog = await screen.findByRole("dialog", { name: /^Image:/ });
    await user.click(within(dialog).getByRole("radio", { name: "3 variations" }));
    await user.click(within(dialog).getByRole("button", { name: "Vary" }));
    await waitFor(() => expect(lastCall(mock, "varyImage")).toEqual([gallery.ids[0], 3]));
    await screen.findByText("Generating 3 variations of this image.");
  });

  test("Use settings never overwrites an unsent prompt without asking", async () => {
    const { mock, user } = await openGallery(4);
    // Write something in Create and leave without generating.
    await user.click(screen.getByRole("button", { name: "Create" }));
    await user.type(screen.getByLabelText("Prompt"), "my unsent idea");
    await user.click(screen.getByRole("button", { name: "Gallery" }));
    await screen.findAllByRole("gridcell");
    const id = gallery.ids[0];
    tile(id).focus();
    await user.keyboard("{Enter}");
    let dialog = await screen.findByRole("dialog", { name: /^Image:/ });
    await user.click(within(dialog).getByRole("button", { name: "Use settings" }));

    const ask = await screen.findByRole("alertdialog", { name: "Replace your current prompt?" });
    expect(ask.textContent).toContain("my unsent idea");
    await user.click(within(ask).getByRole("button", { name: "Cancel" }));
    await waitFor(() => expect(screen.queryByRole("alertdialog")).toBeNull());
    dialog = screen.getByRole("dialog", { name: /^Image:/ });
    expect(lastCall(mock, "imageSettings")).toEqual([id]);

    await user.click(within(dialog).getByRole("button", { name: "Use settings" }));
    const again = await screen.findByRole("alertdialog", { name: "Replace your current prompt?" });
    await user.click(within(again).getByRole("button", { name: "Replace" }));
    const prompt = await screen.findByLabelText("Prompt");
    const settings = await mock.imageSettings(id);
    expect(prompt).toHaveValue(settings.prompt);
    expect(screen.getByRole("spinbutton", { name: "Width" })).toHaveValue(settings.width);
    expect(screen.getByRole("spinbutton", { name: "Seed value" })).toHaveValue(settings.seed);

    // Nothing unsent now (the prompt came from an image): no question the second time.
    await user.click(screen.getByRole("button", { name: "Gallery" }));
    await screen.findAllByRole("gridcell");
    tile(gallery.ids[1]).focus();
    await user.keyboard("{Enter}");
    dialog = await screen.findByRole("dialog", { name: /^Image:/ });
    await user.click(within(dialog).getByRole("button", { name: "Use settings" }));
    await screen.findByLabelText("Prompt");
    expect(screen.queryByRole("alertdialog")).toBeNull();
  });
});
