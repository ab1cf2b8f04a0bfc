// The gallery's first page and its count, separately: a small first page that never waits for an expensive
// count, the count shown when it arrives (never a guess meanwhile), stale counts dropped, "all N" only with
// the real N. The mock answers like the shell: a 1–2 character term's count is left out of the page.
import { describe, expect, test } from "vitest";
import { fireEvent, screen, waitFor, within } from "@testing-library/svelte";
import { lastCall, openGallery } from "./helpers";
import { SAMPLE_PROMPTS } from "../src/lib/util/samples";
import { BackendError, type GalleryQuery } from "../src/lib/backend";
import { COUNT_DELAY_MS, MIN_FIRST_PAGE, PAGE_SIZE, gallery } from "../src/lib/state/gallery.svelte";

/** How many of `n` seeded images mention `term` (the mock cycles through SAMPLE_PROMPTS). */
function matching(n: number, term: string): number {
  let hits = 0;
  for (let i = 0; i < n; i++) if (SAMPLE_PROMPTS[i % SAMPLE_PROMPTS.length].toLowerCase().includes(term)) hits++;
  return hits;
}

const grid = () => screen.getByRole("grid", { name: "Images" });
const search = () => screen.getByRole("searchbox", { name: "Search" });
const countLabel = () => screen.getByRole("heading", { name: "Gallery" }).parentElement?.querySelector(".count")?.textContent?.trim();
const calls = (mock: { calls: { method: string; args: unknown[] }[] }, method: string) =>
  mock.calls.filter((c) => c.method === method).map((c) => c.args[0] as GalleryQuery);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Holds the mock's counts, then searches for `text` and waits until its page is shown; returns the release. */
async function searchWithCountHeld(mock: { holdCounts(): () => void }, text: string): Promise<() => void> {
  const release = mock.holdCounts();
  fireEvent.input(search(), { target: { value: text } });
  await waitFor(() => expect(gallery.appliedText).toBe(text));
  return release;
}
const thumb = (id: number) => grid().querySelector<HTMLButtonElement>(`[data-id="${id}"] button.thumb`) as HTMLButtonElement;

describe("Gallery counts", () => {
  test("the page comes first, the count a moment later; meanwhile the header says Counting…", async () => {
    const { mock } = await openGallery(300);
    const fo = matching(300, "fo");
    expect(fo).toBeGreaterThan(MIN_FIRST_PAGE);
    const release = await searchWithCountHeld(mock, "fo");
    // The first page is in, without a count: the grid shows what is loaded, the header no number.
    const page = calls(mock, "listImages").at(-1) as GalleryQuery;
    expect(page).toMatchObject({ text: "fo", cursor: null, limit: MIN_FIRST_PAGE, count: false });
    expect(gallery.ids).toHaveLength(MIN_FIRST_PAGE);
    expect(gallery.count).toBeNull();
    expect(countLabel()).toBe("Counting…");
    expect(within(grid()).getAllByRole("gridcell").length).toBeGreaterThan(0);
    // The count is asked for once the text has settled, and shown when it arrives.
    await waitFor(() => expect(calls(mock, "countImages")).toHaveLength(1));
    expect(calls(mock, "countImages")[0]).toMatchObject({ text: "fo" });
    expect(countLabel()).toBe("Counting…");
    release();
    await waitFor(() => expect(countLabel()).toBe(`${fo} images`));
    expect(gallery.count).toBe(fo);
    // A query whose count is free (no text) carries it in the page: no count request.
    const before = calls(mock, "countImages").length;
    fireEvent.input(search(), { target: { value: "" } });
    await waitFor(() => expect(countLabel()).toBe("300 images"));
    await sleep(COUNT_DELAY_MS + 50);
    expect(calls(mock, "countImages")).toHaveLength(before);
  });

  test("a count for text that has changed since is dropped; only the current one is shown", async () => {
    const { mock } = await openGallery(300);
    const [a, fo] = [matching(300, "a"), matching(300, "fo")];
    expect(a).not.toBe(fo);
    const release = mock.holdCounts();
    fireEvent.input(search(), { target: { value: "a" } });
    await waitFor(() => expect(calls(mock, "countImages").map((q) => q.text)).toEqual(["a"]));
    // "a" is still being counted when the text changes.
    const seen: (number | null)[] = [];
    const sampler = setInterval(() => seen.push(gallery.count), 1);
    fireEvent.input(search(), { target: { value: "fo" } });
    await waitFor(() => expect(gallery.appliedText).toBe("fo"));
    release(); // the answer for "a" arrives now: stale
    await waitFor(() => expect(countLabel()).toBe(`${fo} images`));
    await sleep(50);
    clearInterval(sampler);
    expect(seen).not.toContain(a);
    expect(calls(mock, "countImages").map((q) => q.text)).toEqual(["a", "fo"]);
    expect(gallery.count).toBe(fo);
  });

  test("fast typing asks for no count until the text settles", async () => {
    const { mock } = await openGallery(300);
    for (const text of ["f", "fo", "fox", "fo"]) {
      fireEvent.input(search(), { target: { value: text } });
      await sleep(10);
    }
    await waitFor(() => expect(countLabel()).toBe(`${matching(300, "fo")} images`));
    expect(calls(mock, "countImages").map((q) => q.text)).toEqual(["fo"]);
  });

  test("a small first page, then full pages by cursor: no gaps, no duplicates", async () => {
    const { mock } = await openGallery(1000);
    const first = calls(mock, "listImages")[0];
    expect(first).toMatchObject({ cursor: null, limit: MIN_FIRST_PAGE, count: false });
    expect(gallery.ids).toHaveLength(MIN_FIRST_PAGE);
    // No text: the count came with the page, and the grid is as tall as all 1,000.
    expect(countLabel()).toBe("1,000 images");
    expect(calls(mock, "countImages")).toHaveLength(0);
    await gallery.ensure(450);
    const pages = calls(mock, "listImages").slice(1);
    expect(pages.length).toBeGreaterThan(0);
    for (const q of pages) {
      expect(q.cursor).not.toBeNull();
      expect(q.limit).toBeGreaterThanOrEqual(PAGE_SIZE);
    }
    expect(gallery.ids.length).toBeGreaterThan(450);
    expect(new Set(gallery.ids).size).toBe(gallery.ids.length);
    // Newest first: the seeded ids count down without a gap.
    expect(gallery.ids.slice(0, 451)).toEqual(Array.from({ length: 451 }, (_, i) => 1000 - i));

    // While a search's count is pending, scrolling to the end of what is loaded still pages in more.
    const release = mock.holdCounts();
    fireEvent.input(search(), { target: { value: "a" } });
    await waitFor(() => expect(gallery.appliedText).toBe("a"));
    expect(gallery.count).toBeNull();
    const scroller = grid().parentElement as HTMLElement;
    scroller.scrollTop = parseFloat(grid().style.height);
    fireEvent.scroll(scroller);
    await waitFor(() => expect(gallery.ids.length).toBeGreaterThan(MIN_FIRST_PAGE));
    expect((lastCall(mock, "listImages")?.[0] as GalleryQuery).cursor).not.toBeNull();
    release();
    await waitFor(() => expect(gallery.count).toBe(matching(1000, "a")));
  });

  test("select all waits for the real count: the selection stays until it arrives, then All N", async () => {
    const { mock, user } = await openGallery(300);
    const fo = matching(300, "fo");
    const release = await searchWithCountHeld(mock, "fo");
    const id = gallery.ids[1];
    await user.click(thumb(id));
    const bar = () => screen.getByRole("toolbar", { name: "Selection" });
    expect(within(bar()).getByText(/^\s*1\s+selected/)).toBeInTheDocument();
    // While N is unknown the offer says "Select all", never a guessed number.
    expect(within(bar()).getByRole("button", { name: "Select all" })).toBeInTheDocument();
    await user.keyboard("{Control>}a{/Control}");
    expect(gallery.allSelected).toBe(false);
    expect(within(bar()).getByText(/^\s*1\s+selected/)).toBeInTheDocument();
    expect(within(bar()).queryByText(/All/)).toBeNull();
    release();
    await waitFor(() => expect(within(bar()).getByText(new RegExp(`All ${fo}\\s+selected`))).toBeInTheDocument());
    expect(gallery.selectedCount).toBe(fo);
    // The whole set, not just what is loaded, when an action runs.
    expect(await gallery.selectedIds()).toHaveLength(fo);
  });

  test("select all asked for before a changed query's count arrives does nothing for the old query", async () => {
    const { mock } = await openGallery(300);
    const release = await searchWithCountHeld(mock, "fo");
    const pending = gallery.selectAll();
    fireEvent.input(search(), { target: { value: "a" } });
    release();
    await pending;
    expect(gallery.allSelected).toBe(false);
    await waitFor(() => expect(gallery.count).toBe(matching(300, "a")));
    expect(gallery.allSelected).toBe(false);
  });

  test("the Select all offer is there at once while counting and stays the same control when N lands", async () => {
    const { mock, user } = await openGallery(300);
    const fo = matching(300, "fo");
    const release = await searchWithCountHeld(mock, "fo");
    const id = gallery.ids[2];
    await user.click(thumb(id));
    const bar = () => screen.getByRole("toolbar", { name: "Selection" });
    const offer = () => within(bar()).queryByRole("button", { name: /^Select all/ });
    // Present from the first selection on, as "Select all", enabled (it resolves when the count lands).
    const pending = offer();
    expect(pending).not.toBeNull();
    expect(pending).toHaveTextContent(/^Select all$/);
    expect(pending).toBeEnabled();
    // It never leaves or is re-created while the count is asked for and arrives.
    const seen = new Set<Element | null>();
    const sampler = setInterval(() => seen.add(offer()), 1);
    await waitFor(() => expect(calls(mock, "countImages")).toHaveLength(1));
    release();
    await waitFor(() => expect(offer()).toHaveTextContent(`Select all ${fo}`));
    await sleep(20);
    clearInterval(sampler);
    seen.add(offer());
    expect([...seen]).toEqual([pending]);
    expect(gallery.allSelected).toBe(false);
    // Then it selects all N; with everything selected there is nothing left to offer.
    await user.click(offer() as HTMLElement);
    await waitFor(() => expect(within(bar()).getByText(new RegExp(`All ${fo}\\s+selected`))).toBeInTheDocument());
    expect(offer()).toBeNull();
  });

  test("Select all clicked while counting selects all N when the count lands", async () => {
    const { mock, user } = await openGallery(300);
    const fo = matching(300, "fo");
    const release = await searchWithCountHeld(mock, "fo");
    await user.click(thumb(gallery.ids[0]));
    const bar = () => screen.getByRole("toolbar", { name: "Selection" });
    await user.click(within(bar()).getByRole("button", { name: "Select all" }));
    // Never "All N" with a guessed N: the selection stays as it is until the count is in.
    expect(gallery.allSelected).toBe(false);
    expect(within(bar()).getByText(/^\s*1\s+selected/)).toBeInTheDocument();
    release();
    await waitFor(() => expect(within(bar()).getByText(new RegExp(`All ${fo}\\s+selected`))).toBeInTheDocument());
    expect(within(bar()).queryByRole("button", { name: /^Select all/ })).toBeNull();
    expect(await gallery.selectedIds()).toHaveLength(fo);
  });

  test("when counting failed, Select all stays offered and counts again", async () => {
    const { mock, user } = await openGallery(300);
    const fo = matching(300, "fo");
    // The backend fails the first count (the list still works).
    const count = mock.countImages.bind(mock);
    let failures = 1;
    mock.countImages = async (q: GalleryQuery) => {
      if (failures-- > 0) throw new BackendError("Io", "count failed");
      return count(q);
    };
    fireEvent.input(search(), { target: { value: "fo" } });
    await waitFor(() => expect(gallery.countFailed).toBe(true));
    expect(countLabel()).toBe(`${gallery.ids.length}+ images`);
    await user.click(thumb(gallery.ids[0]));
    const bar = () => screen.getByRole("toolbar", { name: "Selection" });
    await user.click(within(bar()).getByRole("button", { name: "Select all" }));
    await waitFor(() => expect(within(bar()).getByText(new RegExp(`All ${fo}\\s+selected`))).toBeInTheDocument());
    expect(countLabel()).toBe(`${fo} images`);
  });
});
