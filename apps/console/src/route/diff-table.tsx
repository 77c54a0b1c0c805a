import { useId, useState } from 'react';
import { showLeaf, type DiffKind, type DiffRow } from '../diff';

export const DIFF_MARKERS: Record<DiffKind, string> = { added: 'added', removed: 'removed', changed: 'changed', unchanged: 'same' };

const CLASS: Record<DiffKind, string> = { added: 'diff-added', removed: 'diff-removed', changed: 'diff-changed', unchanged: '' };
const SIGN: Record<DiffKind, string> = { added: '+', removed: '−', changed: '~', unchanged: '' };

/**
 * field | before | after, each row marked by a sign and a word (not by colour alone). Unchanged
 * rows are hidden unless asked for.
 */
export function DiffTable({
  rows,
  beforeLabel,
  afterLabel,
  caption,
  markers = DIFF_MARKERS,
  showUnchangedToggle = true,
}: {
  rows: readonly DiffRow[];
  beforeLabel: string;
  afterLabel: string;
  caption: string;
  markers?: Record<DiffKind, string>;
  showUnchangedToggle?: boolean;
}) {
  const toggleId = useId();
  const [showUnchanged, setShowUnchanged] = useState(!showUnchangedToggle);
  const shown = showUnchanged ? rows : rows.filter((r) => r.kind !== 'unchanged');
  const changed = rows.filter((r) => r.kind !== 'unchanged').length;
  return (
    <div className="diff">
      {showUnchangedToggle && (
        <div className="toolbar">
          <input id={toggleId} type="checkbox" checked={showUnchanged} onChange={(e) => setShowUnchanged(e.target.checked)} />
          <label htmlFor={toggleId}>Show unchanged fields</label>
          <span className="count">
            {changed} field{changed === 1 ? '' : 's'} differ{changed === 1 ? 's' : ''}
          </span>
        </div>
      )}
      {shown.length === 0 ? (
        <p>No differences.</p>
      ) : (
        <table className="diff-table">
          <caption>{caption}</caption>
          <thead>
            <tr>
              <th scope="col">Field</th>
              <th scope="col">{beforeLabel}</th>
              <th scope="col">{afterLabel}</th>
              <th scope="col">Change</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((r) => (
              <tr key={r.path} className={`diff-row diff-row-${r.kind}`} data-kind={r.kind}>
                <th scope="row">
                  <code>{r.path}</code>
                </th>
                <td className={r.kind === 'removed' || r.kind === 'changed' ? CLASS.removed : ''}>
                  <code>{showLeaf(r.before)}</code>
                </td>
                <td className={r.kind === 'added' || r.kind === 'changed' ? CLASS.added : ''}>
                  <code>{showLeaf(r.after)}</code>
                </td>
                <td className={CLASS[r.kind]}>
                  {SIGN[r.kind] && <span aria-hidden="true">{SIGN[r.kind]} </span>}
                  {markers[r.kind]}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
