// Deleting a flag or a segment: choose the item, give a reason, then confirm in a second
// step (no browser dialog). The api decides: a flag another flag needs as a prerequisite is
// refused (409) and its message is shown as the form's error; nothing is deleted then.
// The deletion can be proposed as a change request instead (and is offered when the api
// refuses it because an environment takes changes only through change requests).
import { useState } from 'preact/hooks';
import { bff, enc } from '../api';
import { ErrorMessage, Field, useSubmit } from '../ui';
import { ProposeChange, saveOrOffer } from './propose';
import { proposalTitle, type ChangeEntry } from '../crmodel';

export function DeleteItem({ wsKey, base, kind, keys, onDone }: {
  wsKey: string;
  base: string;
  kind: 'flag' | 'segment';
  keys: string[];
  onDone: (key: string) => void;
}) {
  const [key, setKey] = useState('');
  const [reason, setReason] = useState('');
  const [confirming, setConfirming] = useState(false);
  const { busy, error, submit, setError } = useSubmit();
  const [done, setDone] = useState<string | undefined>(undefined);
  const [refused, setRefused] = useState<string | undefined>(undefined);
  const id = `del-${kind}`;
  const chosen = keys.includes(key) ? key : '';
  const entries = (): ChangeEntry[] | string => chosen ? [{ kind, key: chosen, delete: true }] : `Choose the ${kind} to delete.`;
  const onSubmit = (e: Event) => {
    e.preventDefault();
    setDone(undefined);
    if (!confirming) {
      setError(undefined);
      setConfirming(true);
      setTimeout(() => document.getElementById(`${id}-confirm`)?.focus(), 0);
      return;
    }
    void submit(async () => {
      let deleted = false;
      await saveOrOffer(async () => {
        await bff('DELETE', `${base}/${kind}s/${enc(chosen)}`, { reason: reason.trim() });
        deleted = true;
      }, setRefused);
      if (!deleted) {
        setConfirming(false);
        return;
      }
      setDone(`${kind === 'flag' ? 'Flag' : 'Segment'} ${chosen} deleted.`);
      setConfirming(false);
      setKey('');
      setReason('');
      onDone(chosen);
    });
  };
  const cancel = () => {
    setConfirming(false);
    setTimeout(() => document.getElementById(`${id}-submit`)?.focus(), 0);
  };
  // Nothing left to delete: the form goes, but the last deletion's message stays.
  if (keys.length === 0 && !done) return null;
  return (
    <form onSubmit={onSubmit} aria-labelledby={`${id}-h`} class="panel">
      <h3 id={`${id}-h`}>Delete a {kind}</h3>
      <div class="row">
        <Field id={`${id}-key`} label={kind === 'flag' ? 'Flag' : 'Segment'}>
          <select id={`${id}-key`} required value={chosen} disabled={confirming}
            onChange={(e) => { setKey(e.currentTarget.value); setError(undefined); setRefused(undefined); }}>
            <option value="">Choose…</option>
            {keys.map((k) => <option key={k} value={k}>{k}</option>)}
          </select>
        </Field>
        <Field id={`${id}-reason`} label="Reason">
          <input id={`${id}-reason`} required maxLength={500} value={reason} disabled={confirming}
            onInput={(e) => setReason(e.currentTarget.value)} />
        </Field>
      </div>
      {error && <ErrorMessage message={error} />}
      {done && !error && <p role="status" class="ok">{done}</p>}
      {!confirming && <button type="submit" id={`${id}-submit`}>Delete…</button>}
      {!confirming && chosen && (
        <ProposeChange key={`${chosen}/${refused ?? ''}`} id={`${id}-propose`} wsKey={wsKey} entries={entries}
          title={proposalTitle([{ kind, key: chosen, delete: true }])} reason={reason} refused={refused} />
      )}
      {confirming && (
        <div role="group" aria-labelledby={`${id}-q`}>
          <p id={`${id}-q`}>
            Delete {kind} <code>{chosen}</code> in every environment? This writes a new revision,
            which the History page can revert.
          </p>
          <button type="submit" id={`${id}-confirm`} class="danger" disabled={busy}>
            {busy ? 'Deleting…' : `Delete ${chosen}`}
          </button>{' '}
          <button type="button" onClick={cancel} disabled={busy}>Cancel</button>
        </div>
      )}
    </form>
  );
}
