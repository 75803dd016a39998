// The password change form, shared by the first-start step of the login page and the
// Account page: current password (unless the caller already has it), the new one twice.
// auth ends the user's other sessions and answers a new session, so the session (and its
// CSRF token) is loaded again afterwards.
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { bff, session, type Session } from '../api';
import { ErrorMessage, Field, useSubmit } from '../ui';

export function PasswordForm({ current, hint, actions, onChanged }: {
  current?: string;  // known already (the login step just typed it): not asked again
  hint: string;
  actions?: ComponentChildren;
  onChanged?: () => void;
}) {
  const [currentPassword, setCurrentPassword] = useState(current ?? '');
  const [next, setNext] = useState('');
  const [confirm, setConfirm] = useState('');
  const { busy, error, submit, setError } = useSubmit();
  const onSubmit = (e: Event) => {
    e.preventDefault();
    if (next !== confirm) {
      setError('The two new passwords differ; type the same password twice.');
      return;
    }
    void submit(async () => {
      await bff('POST', '/bff/v1/password', { current_password: currentPassword, new_password: next });
      setCurrentPassword(current ?? '');
      setNext('');
      setConfirm('');
      onChanged?.();
      session.value = await bff<Session>('GET', '/bff/v1/session');
    });
  };
  return (
    <form onSubmit={onSubmit}>
      {current === undefined && (
        <Field id="pw-current" label="Current password">
          <input id="pw-current" type="password" autoComplete="current-password" required value={currentPassword}
            onInput={(e) => setCurrentPassword(e.currentTarget.value)} />
        </Field>
      )}
      <Field id="pw-new" label="New password" hint={hint}>
        <input id="pw-new" type="password" autoComplete="new-password" required minLength={12} value={next}
          aria-describedby="pw-new-hint" onInput={(e) => setNext(e.currentTarget.value)} />
      </Field>
      <Field id="pw-confirm" label="Confirm new password">
        <input id="pw-confirm" type="password" autoComplete="new-password" required value={confirm}
          onInput={(e) => setConfirm(e.currentTarget.value)} />
      </Field>
      {error && <ErrorMessage message={error} />}
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>{busy ? 'Saving…' : 'Change password'}</button>
        {actions}
      </div>
    </form>
  );
}
