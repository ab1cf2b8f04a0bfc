// Attachments shared by components.
import type { Attachment } from "svelte/attachments";

/**
 * `<img {@attach imageSrc(url)}>`: sets the image's `src` once the element is in the page.
 *
 * Why not `src={url}`: Svelte builds new elements by cloning a template (which lives in a separate,
 * inert document) and sets their attributes before it inserts them, and WebKit starts an image's load
 * again each time the element moves to another document. A gallery tile, built inside its row before
 * the row is inserted, asked for its thumbnail three times — every thumbnail of a launch and of every
 * scroll step. An attachment runs once the element is inserted, so the image is asked for once; setting
 * the same `src` again (the tile re-rendered) loads nothing, and a new `url` updates it in place.
 */
export function imageSrc(url: string): Attachment<HTMLImageElement> {
  return (img) => {
    if (img.getAttribute("src") !== url) img.setAttribute("src", url);
  };
}
