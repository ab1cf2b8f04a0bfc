// Focus helpers for modal surfaces: trap Tab inside a container and focus its first control.

const FOCUSABLE =
  'a[href], button:not([disabled]), input:not([disabled]):not([type="hidden"]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

export function focusables(root: HTMLElement): HTMLElement[] {
  return [...root.querySelectorAll<HTMLElement>(FOCUSABLE)].filter((el) => !el.closest("[inert]") && !el.closest("[hidden]"));
}

/** Svelte action: keeps Tab/Shift+Tab inside `node` and focuses `[data-autofocus]` or the node on mount. */
export function trapFocus(node: HTMLElement) {
  const prev = document.activeElement as HTMLElement | null;
  queueMicrotask(() => {
    const target = node.querySelector<HTMLElement>("[data-autofocus]") ?? node;
    target.focus();
  });
  function onKey(e: KeyboardEvent) {
    if (e.key !== "Tab") return;
    const items = focusables(node);
    if (!items.length) {
      e.preventDefault();
      return;
    }
    const first = items[0];
    const last = items[items.length - 1];
    if (e.shiftKey && (document.activeElement === first || document.activeElement === node)) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && document.activeElement === last) {
      e.preventDefault();
      first.focus();
    }
  }
  node.addEventListener("keydown", onKey);
  return {
    destroy() {
      node.removeEventListener("keydown", onKey);
      if (prev && prev.isConnected && !node.contains(prev)) prev.focus();
    },
  };
}
