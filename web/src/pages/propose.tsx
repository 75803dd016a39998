// "Propose as change request" in the item editors: instead of saving, the edit is sent as a
// change request (docs/design/promotions.md §2b) that is reviewed and then applied, and the
// page moves to that request. When a save was refused because an environment takes changes
// only through change requests, the refusal itself offers the proposal in one click, with
// a title made from the edit and the save's reason as its description. The panel sits inside
// the editor's <form>: its fields are not `required` and Enter proposes (it never saves).
import { useState } from 'preact/hooks';
import { changeRequestRequired, proposeChange, type Environment } from '../api';
import type { ChangeEntry } from '../crmodel';
import { navigate } from '../router';
import { ErrorMessage, Field, messageOf } from '../ui';
import { crChanged } from './changerequests';
import { wsPath } from './wssection';

// `entries()` is what Save would write, as change entries, or the form's first problem.
export function ProposeChange({ id, wsKey, entries, title, reason, refused }: {
  id: string;
  wsKey: string;
  entries: () => ChangeEntry[] | string;
  title: string;
  reason?: string;
  refused?: string;
}) {
  const [open, setOpen] = useState(false);
  const [t, setT] = useState('');
  const [d, setD] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>(undefined);
  const propose = async (proposalTitle: string, description: string) => {
    const changes = entries();
    if (typeof changes === 'string') {
      setError(changes);
      return;
    }
    if (!proposalTitle.trim()) {
      setError('Give the change request a title.');
      document.getElementById(`${id}-title`)?.focus();
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      const cr = await proposeChange(wsKey, {
        title: proposalTitle.trim(),
        ...(description.trim() ? { description: description.trim() } : {}),
        changes,
      });
      crChanged.value++;
      navigate(wsPath(wsKey, `change-requests/${cr.id}`));
    } catch (e) {
      setError(messageOf(e));
      setBusy(false);
    }
  };
  const openForm = () => {
    setT(title);
    setD(reason ?? '');
    setError(undefined);
    setOpen(true);
    setTimeout(() => document.getElementById(`${id}-title`)?.focus(), 0);
  };
  const close = () => {
    setOpen(false);
    setTimeout(() => document.getElementById(`${id}-open`)?.focus(), 0);
  };
  const onKeyDown = (e: KeyboardEvent) => {
    if (e.key === 'Escape' && !busy) { e.preventDefault(); e.stopPropagation(); close(); }
    if (e.key === 'Enter' && e.target instanceof HTMLInputElement) { e.preventDefault(); void propose(t, d); }
  };
  return (
    <div class="propose">
      {refused && !open && (
        <div role="alert" class="error" data-refused>
          <p>{refused}</p>
          <p>Propose this edit as a change request instead: it is reviewed, then applied.</p>
          <div class="actions">
            <button type="button" class="primary" disabled={busy} onClick={() => void propose(title, reason ?? '')}>
              {busy ? 'Proposing…' : 'Propose as change request'}
            </button>
            <span class="muted">titled “{title}”</span>
            <button type="button" class="small" disabled={busy} onClick={openForm}>Edit the title first…</button>
          </div>
        </div>
      )}
      {!refused && !open && (
        <button type="button" id={`${id}-open`} onClick={openForm}>Propose as change request…</button>
      )}
      {open && (
        <div role="group" aria-labelledby={`${id}-h`} class="panel" onKeyDown={onKeyDown}>
          <h4 id={`${id}-h`}>Propose as a change request</h4>
          <p class="hint">Nothing is saved now: the change request is reviewed, then applied (or scheduled) from its page.</p>
          <Field id={`${id}-title`} label="Change request title">
            <input id={`${id}-title`} maxLength={200} value={t} onInput={(e) => setT(e.currentTarget.value)} />
          </Field>
          <Field id={`${id}-description`} label="Change request description (optional)">
            <textarea id={`${id}-description`} rows={2} maxLength={4000} value={d} onInput={(e) => setD(e.currentTarget.value)} />
          </Field>
          <div class="actions">
            <button type="button" class="primary" disabled={busy} onClick={() => void propose(t, d)}>
              {busy ? 'Proposing…' : 'Create change request'}
            </button>
            <button type="button" disabled={busy} onClick={close}>Cancel</button>
          </div>
        </div>
      )}
      {error && <ErrorMessage message={error} />}
    </div>
  );
}

// Runs a save; when the api refuses it with change_request_required, `refuse` gets the
// api's message (the editor then shows ProposeChange's offer) instead of an error.
export async function saveOrOffer(save: () => Promise<unknown>, refuse: (m: string | undefined) => void): Promise<void> {
  refuse(undefined);
  try {
    await save();
  } catch (e) {
    if (!changeRequestRequired(e)) throw e;
    refuse(e.message);
  }
}

// The environments whose policy takes changes only through change requests.
export function crOnly(envs: Environment[]): Set<string> {
  return new Set(envs.filter((e) => e.policy?.change_requests_required).map((e) => e.key));
}

// An environment's option text in an editor's environment choice.
export function envOption(env: Environment, only: Set<string>): string {
  return only.has(env.key) ? `${env.key} (change requests only)` : env.key;
}

// Under an editor's environment choice: why Save will be refused there.
export function CrOnlyNote({ env, only }: { env: string; only: Set<string> }) {
  if (!only.has(env)) return null;
  return (
    <p class="hint cr-only" data-cr-only={env}>
      <span class="badge policy">change requests only</span> {env}'s policy takes changes only through change requests:
      use “Propose as change request”. (An environment that inherits from another is changed by its parent's edits too.)
    </p>
  );
}
