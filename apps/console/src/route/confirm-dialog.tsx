import { useEffect, useId, useRef, type ReactNode } from 'react';

/**
 * A confirmation in a native modal <dialog> (showModal: focus moves into it, Escape cancels, the
 * page behind is inert; closing returns focus to what opened it).
 */
export function ConfirmDialog({
  open,
  title,
  confirmLabel,
  danger = false,
  pending = false,
  onConfirm,
  onCancel,
  children,
}: {
  open: boolean;
  title: string;
  confirmLabel: string;
  danger?: boolean;
  pending?: boolean;
  onConfirm(): void;
  onCancel(): void;
  children?: ReactNode;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) dialog.showModal();
    if (!open && dialog.open) dialog.close();
  }, [open]);
  return (
    <dialog ref={ref} aria-labelledby={titleId} onClose={onCancel} className="confirm-dialog">
      {open && (
        <>
          <h2 id={titleId}>{title}</h2>
          {children}
          <div className="toolbar">
            <button type="button" onClick={onCancel} autoFocus>
              Cancel
            </button>
            <button type="button" className={danger ? 'danger' : 'primary'} onClick={onConfirm} disabled={pending}>
              {pending ? 'Working…' : confirmLabel}
            </button>
          </div>
        </>
      )}
    </dialog>
  );
}
