// An environment's change policy, edited from the workspace's environment tree: how many
// approvals a change request touching it needs, which roles may approve, and whether direct
// writes are refused (changes only through change requests). Admin only: the api decides and
// its refusal is shown. Conditional on the revision the page shows, like the other forms.
import { useState } from 'preact/hooks';
import { enc, type Environment, type EnvPolicy } from '../api';
import { ErrorMessage, Field, useSubmit } from '../ui';
import { putIfMatch } from './flags';

const ROLES = ['developer', 'admin', 'owner'];

// One line for the tree: empty when the environment has no policy.
export function policySummary(p: EnvPolicy | undefined): string {
  if (!p) return '';
  const parts = [`${p.required_approvals ?? 0} approval${p.required_approvals === 1 ? '' : 's'}`];
  if (p.change_requests_required) parts.push('change requests only');
  return parts.join(', ');
}

export function EnvPolicyForm({ base, revision, env, onCancel, onDone }: {
  base: string; revision: number; env: Environment; onCancel: () => void; onDone: (message: string) => void;
}) {
  const p = env.policy ?? {};
  const [approvals, setApprovals] = useState(String(p.required_approvals ?? 0));
  const [roles, setRoles] = useState<string[]>(p.approver_roles ?? ['admin', 'owner']);
  const [required, setRequired] = useState(p.change_requests_required ?? false);
  const [reason, setReason] = useState('');
  const { busy, error, submit, setError } = useSubmit();
  const onSubmit = (e: Event) => {
    e.preventDefault();
    void submit(async () => {
      const body = {
        required_approvals: Number.parseInt(approvals, 10) || 0,
        approver_roles: roles,
        change_requests_required: required,
        reason: reason.trim(),
      };
      if (!await putIfMatch(`${base}/environments/${enc(env.key)}/policy`, body, revision, setError)) return;
      onDone(`${env.key}'s policy is saved.`);
    });
  };
  return (
    <form onSubmit={onSubmit} class="panel" aria-labelledby="env-change-h"
      onKeyDown={(e) => { if (e.key === 'Escape' && !busy) { e.preventDefault(); onCancel(); } }}>
      <h3 id="env-change-h">Policy of {env.key}</h3>
      <Field id="env-policy-approvals" label="Approvals required" hint="0–10. A change request needs the largest number among the environments it touches.">
        <input id="env-policy-approvals" type="number" min={0} max={10} required value={approvals} aria-describedby="env-policy-approvals-hint"
          onInput={(e) => setApprovals(e.currentTarget.value)} />
      </Field>
      <fieldset>
        <legend>Who may approve</legend>
        {ROLES.map((r) => (
          <span class="check" key={r}>
            <input id={`env-policy-role-${r}`} type="checkbox" checked={roles.includes(r)}
              onChange={(e) => setRoles(e.currentTarget.checked ? ROLES.filter((x) => x === r || roles.includes(x)) : roles.filter((x) => x !== r))} />
            <label for={`env-policy-role-${r}`}>{r}s</label>
          </span>
        ))}
      </fieldset>
      <div class="check">
        <input id="env-policy-required" type="checkbox" checked={required} onChange={(e) => setRequired(e.currentTarget.checked)} />
        <label for="env-policy-required">Change requests required (direct edits of {env.key} are refused, for admins too)</label>
      </div>
      <Field id="env-change-reason" label="Reason">
        <input id="env-change-reason" required maxLength={500} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
      </Field>
      {error && <ErrorMessage message={error} />}
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>{busy ? 'Saving…' : 'Save policy'}</button>
        <button type="button" onClick={onCancel} disabled={busy}>Cancel</button>
      </div>
    </form>
  );
}
