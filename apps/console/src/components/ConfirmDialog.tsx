import { useEffect, useRef, type ReactNode } from 'react';

/** A modal `<dialog>`: focus stays inside, Escape cancels, the confirm button says what it does. */
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
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (props.open && !d.open) {
      if (typeof d.showModal === 'function') d.showModal();
      else d.setAttribute('open', '');
    } else if (!props.open && d.open) {
      if (typeof d.close === 'function') d.close();
      else d.removeAttribute('open');
    }
  }, [props.open]);
  return (
    <dialog ref={ref} aria-labelledby="dialog-title" onCancel={(e) => { e.preventDefault(); props.onCancel(); }}>
      {props.open && (
        <>
          <h2 id="dialog-title">{props.title}</h2>
          {props.children}
          <div className="actions">
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
