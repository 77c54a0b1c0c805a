import { useId, useState, type FormEvent } from 'react';
import { parseRevision } from '../pages/propagation';

/** A revision typed in, checked (a message at the field), then handed on: the change-set and propagation pages' form. */
export function RevisionForm({ label, submitLabel, onRevision }: { label: string; submitLabel: string; onRevision(revision: number): void }) {
  const [text, setText] = useState('');
  const [error, setError] = useState<string | null>(null);
  const errorId = useId();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const revision = parseRevision(text);
    if (revision === undefined) {
      setError('A revision is a whole number, 0 or more.');
      return;
    }
    setError(null);
    onRevision(revision);
  };
  return (
    <form className="inline-form" onSubmit={submit} aria-label={label} noValidate>
      <label>
        Revision{' '}
        <input
          name="revision"
          type="number"
          min={0}
          step={1}
          inputMode="numeric"
          value={text}
          onChange={(e) => setText(e.target.value)}
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? errorId : undefined}
        />
      </label>
      <button type="submit" className="primary">
        {submitLabel}
      </button>
      {error && (
        <span id={errorId} className="field-error">
          {error}
        </span>
      )}
    </form>
  );
}
