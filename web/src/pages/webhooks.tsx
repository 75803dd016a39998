// A workspace's webhooks (admins; the api refuses others and the page shows its message):
// each with its delivery state (ok, retrying, failing, paused) and last error, pause/resume,
// rotate secret and delete with a confirmation. A new webhook's secret, like a rotated one,
// is shown once with a copy button; the api never shows it again.
import { useEffect, useRef, useState } from 'preact/hooks';
import { bff, enc } from '../api';
import { ErrorMessage, Field, Loading, ShownOnce, useResource, useSubmit } from '../ui';
import { WsHeader } from './wssection';

interface Webhook {
  id: string;
  url: string;
  events: string[] | string;
  description?: string;
  active?: boolean;
  state?: string;
  last_error?: string | null;
  created_at?: string;
  updated_at?: string;
  secret?: string;
}

const EVENTS = ['revision.written', 'change_request.opened', 'change_request.approved', 'change_request.applied',
  'change_request.failed', 'promotion.applied'];

const eventsText = (e: string[] | string) => {
  const list = typeof e === 'string' ? [e] : e;
  return list.includes('*') ? 'every event' : list.join(', ');
};

export function WebhooksPage({ wsKey }: { wsKey: string }) {
  const base = `/bff/api/workspaces/${enc(wsKey)}/webhooks`;
  const [res, reload] = useResource(
    () => bff<{ webhooks?: Webhook[] }>('GET', base).then((r) => r.webhooks ?? []), [base]);
  const [secret, setSecret] = useState<{ what: string; secret: string } | undefined>(undefined);
  const shown = (w: Webhook, what: string) => { if (w.secret) setSecret({ what, secret: w.secret }); reload(); };
  return (
    <>
      <WsHeader wsKey={wsKey} title="Webhooks" />
      <p class="muted">EdgeVault calls each webhook with a signed POST for the events it subscribes to, in order, retrying on failure. Only admins manage webhooks.</p>
      {res.state === 'loading' && !res.data && <Loading what="the webhooks" />}
      {res.state === 'error' && <ErrorMessage message={res.error} retry={reload} />}
      {secret && <SecretOnce what={secret.what} secret={secret.secret} onClose={() => setSecret(undefined)} />}
      {res.data && res.data.length > 0 && (
        <p><button type="button" onClick={reload} disabled={res.state === 'loading'}>Refresh delivery states</button></p>
      )}
      {res.data && res.data.length === 0 && <p class="empty">No webhooks yet.</p>}
      {res.data && res.data.length > 0 && (
        <table class="configs webhooks">
          <caption class="sr-only">Webhooks</caption>
          <thead>
            <tr><th scope="col">URL</th><th scope="col">Events</th><th scope="col">State</th><th scope="col">Last error</th><th scope="col">Actions</th></tr>
          </thead>
          <tbody>
            {res.data.map((w) => <Row key={w.id} base={base} w={w} onDone={reload} onSecret={(x) => shown(x, `New secret for ${w.url}`)} />)}
          </tbody>
        </table>
      )}
      {res.data && <AddWebhook base={base} onAdded={(w) => shown(w, `Secret for ${w.url}`)} />}
    </>
  );
}

function Row({ base, w, onDone, onSecret }: { base: string; w: Webhook; onDone: () => void; onSecret: (w: Webhook) => void }) {
  const [confirming, setConfirming] = useState(false);
  const { busy, error, submit } = useSubmit();
  const confirmButton = useRef<HTMLButtonElement>(null);
  useEffect(() => { if (confirming) confirmButton.current?.focus(); }, [confirming]);
  const url = `${base}/${enc(w.id)}`;
  const paused = w.active === false || w.state === 'paused';
  return (
    <tr data-webhook={w.id}>
      <th scope="row"><code>{w.url}</code>{w.description ? <span class="muted"> {w.description}</span> : null}</th>
      <td>{eventsText(w.events)}</td>
      <td><span class={`status wh-${w.state ?? 'ok'}`}>{w.state ?? 'ok'}</span></td>
      <td>{w.last_error ? w.last_error : <span class="muted">none</span>}</td>
      <td>
        {confirming
          ? (
            <span role="group" aria-label={`Confirm deleting the webhook ${w.url}`}>
              Nothing more is sent to it.
              <button type="button" class="small danger" ref={confirmButton} disabled={busy}
                onClick={() => void submit(async () => { await bff('DELETE', url); setConfirming(false); onDone(); })}>Delete now</button>
              <button type="button" class="small" onClick={() => setConfirming(false)}>Cancel</button>
            </span>
          )
          : (
            <>
              <button type="button" class="small" disabled={busy} aria-label={`${paused ? 'Resume' : 'Pause'} ${w.url}`}
                onClick={() => void submit(async () => { await bff('PATCH', url, { active: paused }); onDone(); })}>{paused ? 'Resume' : 'Pause'}</button>
              <button type="button" class="small" disabled={busy} aria-label={`Rotate secret of ${w.url}`}
                onClick={() => void submit(async () => { onSecret(await bff<Webhook>('POST', `${url}/rotate-secret`)); })}>Rotate secret</button>
              <button type="button" class="small" aria-label={`Delete ${w.url}`} onClick={() => setConfirming(true)}>Delete…</button>
            </>
          )}
        {error && <ErrorMessage message={error} />}
      </td>
    </tr>
  );
}

function SecretOnce({ what, secret, onClose }: { what: string; secret: string; onClose: () => void }) {
  return (
    <ShownOnce id="wh-once-secret" title={what} label="Signing secret" value={secret} what="secret" onClose={onClose}>
      <p class="warning"><strong>Copy this signing secret now: it is shown only once.</strong> Your receiver uses it to check the X-EdgeVault-Signature header; if you lose it, rotate it.</p>
    </ShownOnce>
  );
}

function AddWebhook({ base, onAdded }: { base: string; onAdded: (w: Webhook) => void }) {
  const [url, setUrl] = useState('');
  const [description, setDescription] = useState('');
  const [all, setAll] = useState(true);
  const [events, setEvents] = useState<string[]>([]);
  const { busy, error, submit } = useSubmit();
  const onSubmit = (e: Event) => {
    e.preventDefault();
    void submit(async () => {
      const body: Record<string, unknown> = { url: url.trim(), events: all ? '*' : events };
      if (description.trim()) body.description = description.trim();
      const w = await bff<Webhook>('POST', base, body);
      setUrl('');
      setDescription('');
      onAdded(w);
    });
  };
  return (
    <form onSubmit={onSubmit} class="panel" aria-labelledby="wh-add-h">
      <h2 id="wh-add-h">Add a webhook</h2>
      <Field id="wh-url" label="URL" hint="http:// or https:// (the certificate is verified), e.g. https://hooks.example.com/edgevault">
        <input id="wh-url" required maxLength={2048} value={url} aria-describedby="wh-url-hint" onInput={(e) => setUrl(e.currentTarget.value)} />
      </Field>
      <Field id="wh-description" label="Description (optional)">
        <input id="wh-description" maxLength={200} value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
      </Field>
      <fieldset>
        <legend>Events</legend>
        <div class="check">
          <input id="wh-all" type="checkbox" checked={all} onChange={(e) => setAll(e.currentTarget.checked)} />
          <label for="wh-all">Every event</label>
        </div>
        {!all && EVENTS.map((ev) => (
          <div class="check" key={ev}>
            <input id={`wh-ev-${ev}`} type="checkbox" checked={events.includes(ev)}
              onChange={(e) => setEvents(e.currentTarget.checked ? [...events, ev] : events.filter((x) => x !== ev))} />
            <label for={`wh-ev-${ev}`}><code>{ev}</code></label>
          </div>
        ))}
      </fieldset>
      {error && <ErrorMessage message={error} />}
      <button type="submit" class="primary" disabled={busy}>{busy ? 'Adding…' : 'Add webhook'}</button>
    </form>
  );
}
