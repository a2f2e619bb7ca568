import { useLayoutEffect, useRef, type ReactNode } from 'react';

/**
 * A modal `<dialog>`: focus stays inside, Escape cancels, the confirm button says what it does. Closing it, or taking
 * it off the page while open, gives focus back to what had it before (the button that opened it); a focused button
 * swapped for another (Confirm for Stop, Stop for Close) hands focus to the first of the dialog's buttons.
 */
export function ConfirmDialog(props: {
  open: boolean;
  title: string;
  confirmLabel: string;
  busy?: boolean;
  onConfirm: () => void;
  onCancel: () => void;
  children: ReactNode;
  /** In place of Cancel and the confirm button, while the confirmed action runs or once it has. */
  actions?: ReactNode;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const actions = useRef<HTMLDivElement>(null);
  // a layout effect: its cleanup runs while the dialog is still in the document, so close() can give focus back
  useLayoutEffect(() => {
    const d = ref.current;
    if (!d || !props.open) return;
    const opener = document.activeElement instanceof HTMLElement && document.activeElement !== document.body ? document.activeElement : null;
    if (!d.open) {
      if (typeof d.showModal === 'function') d.showModal();
      else d.setAttribute('open', '');
    }
    return () => {
      if (d.open) {
        if (typeof d.close === 'function') d.close();
        else d.removeAttribute('open');
      }
      // focus in the dialog, or fallen to <body> with its button: back to the opener (a browser's close() may have)
      const active = document.activeElement;
      if (opener?.isConnected && (active === null || active === document.body || d.contains(active))) opener.focus();
    };
  }, [props.open]);
  useLayoutEffect(() => {
    // the focused button was replaced (removed from the page): focus would fall to <body>, outside the modal
    if (props.open && (document.activeElement === null || document.activeElement === document.body))
      actions.current?.querySelector<HTMLElement>('button:not(:disabled)')?.focus();
  });
  return (
    <dialog ref={ref} aria-labelledby="dialog-title" onCancel={(e) => { e.preventDefault(); props.onCancel(); }}>
      {props.open && (
        <>
          <h2 id="dialog-title">{props.title}</h2>
          {props.children}
          <div className="actions" ref={actions}>
            {props.actions ?? (
              <>
                <button type="button" onClick={props.onCancel}>
                  Cancel
                </button>
                <button type="button" className="primary" disabled={props.busy} onClick={props.onConfirm}>
                  {props.confirmLabel}
                </button>
              </>
            )}
          </div>
        </>
      )}
    </dialog>
  );
}
