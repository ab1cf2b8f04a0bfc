// Vitest setup (jsdom): small browser APIs jsdom lacks.
import "@testing-library/jest-dom/vitest";
import { afterEach } from "vitest";

if (!Element.prototype.scrollIntoView) {
  Element.prototype.scrollIntoView = function scrollIntoView() {};
}

// jsdom has no 2D canvas (it would log "not implemented"): the mask painter then draws nothing, and its
// pixel logic is tested on its own (tests/mask.test.ts).
HTMLCanvasElement.prototype.getContext = function getContext() {
  return null;
} as typeof HTMLCanvasElement.prototype.getContext;

afterEach(() => {
  document.documentElement.removeAttribute("data-theme");
  document.documentElement.removeAttribute("data-theme-pref");
  localStorage.clear();
});
