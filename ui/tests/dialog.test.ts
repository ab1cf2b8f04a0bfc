// The shared modal shell (Dialog.svelte): accessible name, initial focus, Tab / Shift+Tab wrapping, Escape,
// the scrim, `busy`, keys not leaking to the screens behind, and focus returning to the opener; then the
// same behaviour through real dialogs (confirm, export, shortcuts) in the app.
import { describe, expect, test, vi } from "vitest";
import { createRawSnippet } from "svelte";
import { fireEvent, render, screen, waitFor, within } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import Dialog from "../src/lib/components/Dialog.svelte";
import ConfirmDialog from "../src/lib/components/ConfirmDialog.svelte";
import { confirm } from "../src/lib/state/dialogs.svelte";
import { renderApp } from "./helpers";

const body = (html: string) => createRawSnippet(() => ({ render: () => html }));

const FIELDS = body(`<div><input aria-label="Name" /><input aria-label="Size" data-autofocus /></div>`);
const ACTIONS = body(`<div><button>Cancel</button><button>Save</button></div>`);

function renderDialog(props: Record<string, unknown> = {}) {
  const onclose = vi.fn();
  const view = render(Dialog, { props: { title: "Rename", onclose, children: FIELDS, footer: ACTIONS, ...props } });
  return { onclose, ...view };
}

function scrim(): HTMLElement {
  const el = document.querySelector<HTMLElement>(".scrim");
  if (!el) throw new Error("no scrim");
  return el;
}

describe("Dialog", () => {
  test("is a labelled modal dialog that focuses [data-autofocus] on open", async () => {
    renderDialog();
    const dialog = screen.getByRole("dialog", { name: "Rename" });
    expect(dialog).toHaveAttribute("aria-modal", "true");
    expect(document.getElementById(dialog.getAttribute("aria-labelledby") ?? "")?.tagName).toBe("H2");
    await waitFor(() => expect(screen.getByLabelText("Size")).toHaveFocus());
  });

  test("without [data-autofocus] the panel itself takes focus; alertdialog with a description", async () => {
    render(Dialog, {
      props: {
        title: "Delete?",
        titleId: "t",
        role: "alertdialog",
        describedby: "d",
        closeButton: false,
        onclose: () => {},
        children: body(`<p id="d">It goes to the Trash.</p>`),
      },
    });
    const dialog = screen.getByRole("alertdialog", { name: "Delete?" });
    expect(dialog).toHaveAccessibleDescription("It goes to the Trash.");
    expect(within(dialog).queryByRole("button", { name: "Close" })).toBeNull();
    await waitFor(() => expect(dialog).toHaveFocus());
  });

  test("Tab and Shift+Tab wrap inside the panel", async () => {
    const user = userEvent.setup();
    renderDialog();
    const dialog = screen.getByRole("dialog", { name: "Rename" });
    const close = within(dialog).getByRole("button", { name: "Close" });
    const save = within(dialog).getByRole("button", { name: "Save" });
    save.focus();
    await user.tab();
    expect(close).toHaveFocus();
    await user.tab({ shift: true });
    expect(save).toHaveFocus();
    await user.tab();
    await user.tab();
    expect(screen.getByLabelText("Name")).toHaveFocus();
  });

  test("Tab with focus lost to <body> comes back into the dialog", async () => {
    const user = userEvent.setup();
    renderDialog();
    const dialog = screen.getByRole("dialog", { name: "Rename" });
    await waitFor(() => expect(screen.getByLabelText("Size")).toHaveFocus());
    (document.activeElement as HTMLElement).blur();
    expect(document.body).toHaveFocus();
    await user.tab();
    expect(within(dialog).getByRole("button", { name: "Close" })).toHaveFocus();
    // From the panel itself (a click on its background focuses it): Shift+Tab goes to the last control.
    dialog.focus();
    await user.tab({ shift: true });
    expect(within(dialog).getByRole("button", { name: "Save" })).toHaveFocus();
  });

  test("Escape, the scrim and the Close button ask to close; clicks inside do not", async () => {
    const user = userEvent.setup();
    const { onclose } = renderDialog();
    await user.click(screen.getByLabelText("Name"));
    expect(onclose).not.toHaveBeenCalled();
    await user.keyboard("{Escape}");
    expect(onclose).toHaveBeenCalledTimes(1);
    await fireEvent.click(scrim());
    expect(onclose).toHaveBeenCalledTimes(2);
    await user.click(screen.getByRole("button", { name: "Close" }));
    expect(onclose).toHaveBeenCalledTimes(3);
  });

  test("while busy nothing closes it", async () => {
    const user = userEvent.setup();
    const { onclose } = renderDialog({ busy: true });
    await waitFor(() => expect(screen.getByLabelText("Size")).toHaveFocus());
    await user.keyboard("{Escape}");
    await fireEvent.click(scrim());
    expect(screen.getByRole("button", { name: "Close" })).toBeDisabled();
    expect(onclose).not.toHaveBeenCalled();
    expect(screen.getByRole("dialog", { name: "Rename" })).toHaveAttribute("aria-busy", "true");
  });

  test("keys typed inside do not reach window shortcuts (unless passKeys); Escape never does", async () => {
    const user = userEvent.setup();
    const seen: string[] = [];
    const spy = (e: KeyboardEvent) => seen.push(e.key);
    window.addEventListener("keydown", spy);
    try {
      const first = renderDialog();
      await waitFor(() => expect(screen.getByLabelText("Size")).toHaveFocus());
      await user.keyboard("x{Delete}{Escape}");
      expect(seen).toEqual([]);
      first.unmount();
      renderDialog({ passKeys: true });
      await waitFor(() => expect(screen.getByLabelText("Size")).toHaveFocus());
      await user.keyboard("x{Escape}");
      expect(seen).toEqual(["x"]);
    } finally {
      window.removeEventListener("keydown", spy);
    }
  });

  test("focus returns to the opener when it closes", async () => {
    const opener = document.createElement("button");
    opener.textContent = "Rename…";
    document.body.append(opener);
    opener.focus();
    const { unmount } = renderDialog();
    await waitFor(() => expect(screen.getByLabelText("Size")).toHaveFocus());
    unmount();
    expect(opener).toHaveFocus();
    opener.remove();
  });
});

describe("dialogs built on it", () => {
  test("confirm: Escape answers no and focus returns to the button that asked", async () => {
    const user = userEvent.setup();
    render(ConfirmDialog);
    const opener = document.createElement("button");
    document.body.append(opener);
    opener.focus();
    const answer = confirm.ask({ title: "Replace your current prompt?", message: "The prompt is replaced.", confirm: "Replace" });
    const ask = await screen.findByRole("alertdialog", { name: "Replace your current prompt?" });
    expect(ask).toHaveAccessibleDescription("The prompt is replaced.");
    await waitFor(() => expect(within(ask).getByRole("button", { name: "Replace" })).toHaveFocus());
    await user.tab();
    expect(within(ask).getByRole("button", { name: "Cancel" })).toHaveFocus();
    await user.keyboard("{Escape}");
    await expect(answer).resolves.toBe(false);
    await waitFor(() => expect(screen.queryByRole("alertdialog")).toBeNull());
    expect(opener).toHaveFocus();
    opener.remove();
  });

  test("export: Escape closes it and focus goes back to Export; keys inside stay inside", async () => {
    const user = userEvent.setup();
    await renderApp({ seedGallery: 3 });
    await user.click(screen.getByRole("button", { name: "Gallery" }));
    const cells = await screen.findAllByRole("gridcell");
    await user.keyboard("{Control>}");
    await user.click(cells[0].querySelector("button") as HTMLButtonElement);
    await user.keyboard("{/Control}");
    const exportBtn = await screen.findByRole("button", { name: "Export" });
    await user.click(exportBtn);
    const dialog = await screen.findByRole("dialog", { name: "Export 1 image" });
    const png = within(dialog).getByRole("radio", { name: "PNG" });
    await waitFor(() => expect(png).toHaveFocus());
    // "/" is the gallery's "focus Search": inside the dialog it must not pull focus behind the scrim.
    await user.keyboard("/");
    expect(png).toHaveFocus();
    await user.keyboard("{Escape}");
    await waitFor(() => expect(screen.queryByRole("dialog")).toBeNull());
    expect(exportBtn).toHaveFocus();
  });

  test("shortcuts: the rail's button opens it, Tab stays inside, Escape returns focus to the button", async () => {
    const user = userEvent.setup();
    await renderApp();
    const help = screen.getByRole("button", { name: "Keyboard shortcuts" });
    await user.click(help);
    const dialog = await screen.findByRole("dialog", { name: "Keyboard shortcuts" });
    // Focus starts on the scrolling list (so arrows / Page Down scroll it), which is not a Tab stop.
    await waitFor(() => expect(dialog.querySelector("[data-autofocus]")).toHaveFocus());
    await user.tab();
    expect(within(dialog).getByRole("button", { name: "Close" })).toHaveFocus();
    await user.tab();
    expect(within(dialog).getByRole("button", { name: "Close" })).toHaveFocus();
    await user.keyboard("{Escape}");
    await waitFor(() => expect(screen.queryByRole("dialog")).toBeNull());
    expect(help).toHaveFocus();
  });
});
