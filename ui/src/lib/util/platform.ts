// Keyboard platform helpers: Cmd on macOS, Ctrl elsewhere.

export const isMac: boolean =
  typeof navigator !== "undefined" && /mac|iphone|ipad/i.test(navigator.platform || navigator.userAgent);

/** Label of the primary modifier as shown in tooltips. */
export const mod: string = isMac ? "⌘" : "Ctrl";

/** "Ctrl+1" / "⌘1" for display. */
export function combo(key: string): string {
  return isMac ? `⌘${key}` : `Ctrl+${key}`;
}

/** aria-keyshortcuts value for mod+key. */
export function ariaCombo(key: string): string {
  return isMac ? `Meta+${key}` : `Control+${key}`;
}

export function hasMod(e: KeyboardEvent): boolean {
  return isMac ? e.metaKey && !e.ctrlKey : e.ctrlKey && !e.metaKey;
}

/** True when the event target is a text-entry control (shortcuts without modifiers must not fire there). */
export function isTyping(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable) return true;
  if (target instanceof HTMLTextAreaElement) return true;
  if (target instanceof HTMLSelectElement) return true;
  if (target instanceof HTMLInputElement) {
    return !["checkbox", "radio", "button", "range", "submit", "reset", "color"].includes(target.type);
  }
  return false;
}
