// Vitest setup (jsdom): small browser APIs jsdom lacks.
import "@testing-library/jest-dom/vitest";
import { afterEach } from "vitest";

if (!Element.prototype.scrollIntoView) {
  Element.prototype.scrollIntoView = function scrollIntoView() {};
}

afterEach(() => {
  document.documentElement.removeAttribute("data-theme");
  document.documentElement.removeAttribute("data-theme-pref");
  localStorage.clear();
});
