import { describe, expect, test } from "vitest";
import { screen, waitFor, within } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { lastCall, renderApp } from "./helpers";
import { SAMPLE_PROMPTS } from "../src/lib/backend/mock";
import type { GalleryQuery } from "../src/lib/backend";

async function openGallery(seedGallery: number) {
  const r = await renderApp({ seedGallery });
  const user = userEvent.setup();
  await user.click(screen.getByRole("button", { name: "Gallery" }));
  await screen.findByRole("heading", { name: "Gallery" });
  return { ...r, user };
}

describe("Gallery", () => {
  test("an empty gallery suggests a first prompt", async () => {
    const { user } = await openGallery(0);
    await screen.findByText("Your gallery is empty");
    await user.click(screen.getByRole("button", { name: "Try this prompt" }));
    expect(screen.getByLabelText("Prompt")).toHaveValue(SAMPLE_PROMPTS[0]);
  });

  test("thumbnails carry their prompt as alt text and pages load with a cursor", async () => {
    const { mock, user } = await openGallery(70);
    await waitFor(() => expect(screen.getAllByRole("img").length).toBe(60));
    for (const img of screen.getAllByRole("img")) expect(img.getAttribute("alt")).toBeTruthy();
    expect(screen.getByText("70 images")).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Load more" }));
    await waitFor(() => expect(screen.getAllByRole("img").length).toBe(70));
    expect((lastCall(mock, "listImages")?.[0] as GalleryQuery).cursor).toBe("60");
    expect(screen.getByText("That’s everything.")).toBeInTheDocument();
  });

  test("search filters by prompt through listImages", async () => {
    const { mock, user } = await openGallery(24);
    await user.type(screen.getByRole("searchbox", { name: "Search" }), "fox");
    await waitFor(() => expect((lastCall(mock, "listImages")?.[0] as GalleryQuery).text).toBe("fox"));
    await waitFor(() => expect(screen.getAllByRole("img")).toHaveLength(2));
    for (const img of screen.getAllByRole("img")) expect(img.getAttribute("alt")).toMatch(/fox/i);
    await user.clear(screen.getByRole("searchbox", { name: "Search" }));
    await user.type(screen.getByRole("searchbox", { name: "Search" }), "zzzz");
    await screen.findByText("No images match");
  });

  test("the large view rates with keys 1–5/0, favourites, and deletes with a toast", async () => {
    const { mock, user } = await openGallery(5);
    const first = (await screen.findAllByRole("img"))[0];
    const prompt = first.getAttribute("alt") ?? "";
    await user.click(first);
    const dialog = await screen.findByRole("dialog");
    expect(within(dialog).getByRole("img")).toHaveAttribute("alt", prompt);
    expect(within(dialog).getByText(prompt)).toBeInTheDocument();

    await user.keyboard("3");
    expect(lastCall(mock, "setRating")).toEqual([[5], 3]);
    expect(within(dialog).getByRole("button", { name: "3 stars" })).toHaveAttribute("aria-pressed", "true");
    await user.keyboard("0");
    expect(lastCall(mock, "setRating")).toEqual([[5], 0]);
    await user.click(within(dialog).getByRole("button", { name: "Favourite" }));
    expect(lastCall(mock, "setFavourite")).toEqual([[5], true]);

    await user.keyboard("{ArrowRight}");
    expect(within(dialog).getByText("2 / 5")).toBeInTheDocument();
    await user.click(within(dialog).getByRole("button", { name: "Delete" }));
    expect(lastCall(mock, "deleteImages")).toEqual([[4]]);
    await screen.findByText("Image moved to the Trash.");
    expect(within(dialog).getByText("2 / 4")).toBeInTheDocument();
    await user.keyboard("{Escape}");
    await waitFor(() => expect(screen.queryByRole("dialog")).toBeNull());
    expect(screen.getAllByRole("img")).toHaveLength(4);
    expect(screen.getByText("4 images")).toBeInTheDocument();
  });
});
