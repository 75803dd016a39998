// One change request: what it changes side by side, what its environments' policies require,
// its reviews and comments, and the actions the api decides on (approve, reject, comment,
// apply, rebase, close, revert, schedule and unschedule). Every refusal is the api's message,
// shown where the action is; a conflict at apply explains rebasing and offers it.
import { useEffect, useRef, useState } from 'preact/hooks';
import {
  ApiError, bff, scheduleChangeRequest, unscheduleChangeRequest, type Environment, type WorkspaceDetail,
} from '../api';
import {
  approvalsLabel, formatUtc, localInputToUtc, stateLabel, toLocalInput, typeLabel, type ChangeRequest,
} from '../crmodel';
import { actorName } from '../history';
import { linkClick, navigate } from '../router';
import { ErrorMessage, Field, Loading, messageOf, useResource, useSubmit } from '../ui';
import { RiskPanel, type RiskReply } from './ai';
import { crBase, crChanged, DiffTables } from './changerequests';
import { useLiveRevisions } from './workspace';
import { formatTime, loadPeople, WsHeader, wsPath, type People } from './wssection';


export function ChangeRequestPage({ wsKey, id }: { wsKey: string; id: number }) {
  const base = crBase(wsKey);
  const url = `${base}/change-requests/${id}`;
  const [res, reload] = useResource(async () => {
    const [cr, ws, people] = await Promise.all([
      bff<ChangeRequest>('GET', url), bff<WorkspaceDetail>('GET', base), loadPeople(),
    ]);
    return { cr, envs: ws.environments, people };
  }, [url]);
  const live = useLiveRevisions(`${base}/events`, reload);
  const after = () => { reload(); crChanged.value++; };
  const data = res.data;
  return (
    <>
      <WsHeader wsKey={wsKey} title={data ? `#${data.cr.id} ${data.cr.title}` : `Change request #${id}`} />
      <p class="crumbs"><a href={wsPath(wsKey, 'change-requests')} onClick={linkClick}>All change requests</a></p>
      <p class="muted" role="status">{live ? 'Live: applied changes appear here.' : 'Live updates are not connected.'}</p>
      {res.state === 'loading' && !data && <Loading what="the change request" />}
      {res.state === 'error' && <ErrorMessage message={res.error} retry={reload} />}
      {data && <Detail wsKey={wsKey} url={url} cr={data.cr} envs={data.envs} people={data.people} onDone={after} />}
    </>
  );
}

function Detail({ wsKey, url, cr, envs, people, onDone }: {
  wsKey: string; url: string; cr: ChangeRequest; envs: Environment[]; people: People; onDone: () => void;
}) {
  const name = (actor: string) => actorName(actor, people.members, people.keys);
  const touched = envs.filter((e) => cr.environments?.includes(e.key));
  const live = ['open', 'approved', 'scheduled', 'failed'].includes(cr.state);
  return (
    <>
      <dl class="facts">
        <dt>State</dt><dd><span class={`status cr-${cr.state}`} data-state={cr.state}>{stateLabel(cr.state)}</span>{cr.state_reason ? ` — ${cr.state_reason}` : ''}</dd>
        <dt>Type</dt><dd data-cr-type={cr.type ?? 'promotion'}>{typeLabel(cr)}{cr.type === 'change' ? ' (proposed directly)' : ''}</dd>
        <dt>Author</dt><dd>{name(cr.author)}</dd>
        <dt>Created</dt><dd>{formatTime(cr.created_at)}</dd>
        {cr.request?.from && <><dt>Promotion</dt><dd><code>{cr.request.from}</code> → <code>{cr.request.to}</code></dd></>}
        {cr.request?.revert_of !== undefined && <><dt>Reverts</dt><dd><a href={wsPath(wsKey, `change-requests/${cr.request.revert_of}`)} onClick={linkClick}>#{cr.request.revert_of}</a></dd></>}
        <dt>Approvals</dt><dd data-approvals>{approvalsLabel(cr)} (round {cr.round ?? 1})</dd>
        {cr.applied_revision ? <><dt>Applied</dt><dd>revision {cr.applied_revision}</dd></> : null}
      </dl>
      {cr.description && <p class="description">{cr.description}</p>}
      <section aria-labelledby="policy-h">
        <h2 id="policy-h">Requirements</h2>
        <p>{cr.required_approvals ?? 0} approval{cr.required_approvals === 1 ? '' : 's'} required; the author never approves their own request.</p>
        {touched.length > 0 && (
          <ul>
            {touched.map((e) => (
              <li key={e.key} data-policy-env={e.key}>
                <code>{e.key}</code>: {e.policy
                  ? `${e.policy.required_approvals ?? 0} approval(s) from ${(e.policy.approver_roles ?? ['admin', 'owner']).join(' or ')}${e.policy.change_requests_required ? '; changes only through change requests' : ''}`
                  : 'no policy'}
                {e.protected ? ' (protected: applying needs an admin)' : ''}
              </li>
            ))}
          </ul>
        )}
      </section>
      <section aria-labelledby="changes-h">
        <h2 id="changes-h">Changes</h2>
        <DiffTables changes={cr.changes} />
      </section>
      {live && <RiskPanel key={`${cr.id}/${cr.round ?? 1}`} id="cr-risk" load={(explain) => bff<RiskReply>('POST', `${url}/risk`, { explain })} />}
      {live && <Review url={url} onDone={onDone} />}
      {(cr.state === 'approved' || cr.state === 'scheduled') && (
        <Schedule key={`${cr.state}/${cr.apply_at ?? ''}`} wsKey={wsKey} cr={cr} name={name} onDone={onDone} />
      )}
      {(live || cr.state === 'applied') && <Actions wsKey={wsKey} url={url} cr={cr} onDone={onDone} />}
      <section aria-labelledby="reviews-h">
        <h2 id="reviews-h">Reviews</h2>
        {(cr.reviews ?? []).length === 0
          ? <p class="empty">No reviews yet.</p>
          : (
            <ul class="reviews">
              {cr.reviews!.map((r) => (
                <li key={`${r.round}/${r.actor}`}>
                  <strong>{name(r.actor)}</strong> {r.decision === 'approve' ? 'approved' : 'rejected'} (round {r.round}) <span class="muted">{formatTime(r.time)}</span>
                  {r.comment && <p>{r.comment}</p>}
                </li>
              ))}
            </ul>
          )}
      </section>
      <Comments url={url} cr={cr} name={name} onDone={onDone} />
    </>
  );
}

function Review({ url, onDone }: { url: string; onDone: () => void }) {
  const [comment, setComment] = useState('');
  const [done, setDone] = useState<string | undefined>(undefined);
  const { busy, error, submit } = useSubmit();
  const review = (decision: 'approve' | 'reject') => void submit(async () => {
    setDone(undefined);
    await bff('POST', `${url}/${decision}`, comment.trim() ? { comment: comment.trim() } : {});
    setComment('');
    setDone(decision === 'approve' ? 'You approved this change request.' : 'You rejected this change request.');
    onDone();
  });
  return (
    <section class="panel" aria-labelledby="review-h">
      <h2 id="review-h">Review</h2>
      <Field id="review-comment" label="Comment with your review (optional)">
        <textarea id="review-comment" rows={2} maxLength={4000} value={comment} onInput={(e) => setComment(e.currentTarget.value)} />
      </Field>
      {error && <ErrorMessage message={error} />}
      {done && !error && <p role="status" class="ok">{done}</p>}
      <div class="actions">
        <button type="button" class="primary" disabled={busy} onClick={() => review('approve')}>Approve</button>
        <button type="button" class="danger" disabled={busy} onClick={() => review('reject')}>Reject</button>
      </div>
    </section>
  );
}

// Apply (with a confirmation), rebase, close, revert.
function Actions({ wsKey, url, cr, onDone }: { wsKey: string; url: string; cr: ChangeRequest; onDone: () => void }) {
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<{ code: string; message: string } | undefined>(undefined);
  const [done, setDone] = useState<string | undefined>(undefined);
  const confirmButton = useRef<HTMLButtonElement>(null);
  useEffect(() => { if (confirming) confirmButton.current?.focus(); }, [confirming]);
  const run = async (op: string, message: string, then?: (out: ChangeRequest) => void) => {
    setBusy(true);
    setError(undefined);
    setDone(undefined);
    try {
      const out = await bff<ChangeRequest>('POST', `${url}/${op}`);
      setConfirming(false);
      setDone(message);
      if (then) then(out);
      else onDone();
    } catch (e) {
      setConfirming(false);
      setError({ code: e instanceof ApiError ? e.code : '', message: messageOf(e) });
    } finally {
      setBusy(false);
    }
  };
  const n = cr.changes?.length ?? 0;
  const target = cr.environments?.join(', ') ?? '';
  return (
    <section class="panel" aria-labelledby="actions-h">
      <h2 id="actions-h">Actions</h2>
      {error && <ErrorMessage message={error.message} />}
      {error?.code === 'change_request_conflict' && (
        <p class="warning" role="note">
          Something this request changes was changed since its diff was computed, so applying it could overwrite that change.
          Rebase it: the diff is computed again against the workspace as it is now, and the approvals start over (a new round).
        </p>
      )}
      {done && !error && <p role="status" class="ok">{done}</p>}
      {cr.state === 'applied'
        ? (
          <div class="actions">
            <button type="button" disabled={busy} onClick={() => void run('revert', 'A revert request was opened.',
              (out) => { onDone(); navigate(wsPath(wsKey, `change-requests/${out.id}`)); })}>Revert…</button>
            <span class="muted">opens a new change request that restores what this one changed</span>
          </div>
        )
        : confirming
          ? (
            <div role="group" aria-label="Confirm applying" class="actions">
              <span>Apply {n} change{n === 1 ? '' : 's'} to {target} now, in one commit?</span>
              <button type="button" class="primary" ref={confirmButton} disabled={busy} onClick={() => void run('apply', 'Applied.')}>
                {busy ? 'Applying…' : 'Apply now'}
              </button>
              <button type="button" onClick={() => setConfirming(false)}>Cancel</button>
            </div>
          )
          : (
            <div class="actions">
              <button type="button" class="primary" disabled={busy} onClick={() => setConfirming(true)}>Apply…</button>
              <button type="button" disabled={busy} onClick={() => void run('rebase', 'Rebased: the diff was computed again; approvals start over.')}>Rebase</button>
              <button type="button" disabled={busy} onClick={() => void run('close', 'Closed.')}>Close request</button>
            </div>
          )}
    </section>
  );
}

// An approved request: a time (the browser's local time, sent as UTC) and Schedule. A
// scheduled one: when it applies, in local time and UTC, who it acts as, and Unschedule.
function Schedule({ wsKey, cr, name, onDone }: {
  wsKey: string; cr: ChangeRequest; name: (a: string) => string; onDone: () => void;
}) {
  const [at, setAt] = useState(() => toLocalInput(new Date(Date.now() + 3600_000)));
  const [done, setDone] = useState<string | undefined>(undefined);
  const { busy, error, submit, setError } = useSubmit();
  const schedule = (e: Event) => {
    e.preventDefault();
    setDone(undefined);
    const utc = localInputToUtc(at);
    if (!utc) {
      setError('Choose the date and time to apply it.');
      document.getElementById('schedule-at')?.focus();
      return;
    }
    void submit(async () => {
      await scheduleChangeRequest(wsKey, cr.id, utc);
      setDone(`Scheduled for ${formatUtc(utc)}.`);
      onDone();
    });
  };
  const unschedule = () => void submit(async () => {
    setDone(undefined);
    await unscheduleChangeRequest(wsKey, cr.id);
    setDone('Unscheduled: it is approved and waits to be applied or scheduled again.');
    onDone();
  });
  const when = cr.apply_at ? new Date(cr.apply_at) : undefined;
  return (
    <section class="panel" aria-labelledby="schedule-h">
      <h2 id="schedule-h">Schedule</h2>
      {cr.state === 'scheduled' && cr.apply_at && when
        ? (
          <>
            <p data-apply-at={cr.apply_at}>
              Applies at <strong>{when.toLocaleString()}</strong> (your time), <code>{formatUtc(cr.apply_at)}</code>
              {cr.scheduled_by ? `, as ${name(cr.scheduled_by)}` : ''}. The api applies it then, with the approvals
              and rights as they are at that time; if something refuses it, it becomes failed with the reason.
            </p>
            {error && <ErrorMessage message={error} />}
            {done && !error && <p role="status" class="ok">{done}</p>}
            <button type="button" disabled={busy} onClick={unschedule}>{busy ? 'Unscheduling…' : 'Unschedule'}</button>
          </>
        )
        : (
          <form onSubmit={schedule}>
            <Field id="schedule-at" label="Apply at (your local time)" hint="At most 366 days ahead. You need the right to apply it now; it is applied as you.">
              <input id="schedule-at" type="datetime-local" step={1} value={at} aria-describedby="schedule-at-hint"
                onInput={(e) => setAt(e.currentTarget.value)} />
            </Field>
            {localInputToUtc(at) && <p class="muted">That is {formatUtc(localInputToUtc(at)!)}.</p>}
            {error && <ErrorMessage message={error} />}
            {done && !error && <p role="status" class="ok">{done}</p>}
            <button type="submit" disabled={busy}>{busy ? 'Scheduling…' : 'Schedule'}</button>
          </form>
        )}
    </section>
  );
}

function Comments({ url, cr, name, onDone }: { url: string; cr: ChangeRequest; name: (a: string) => string; onDone: () => void }) {
  const [text, setText] = useState('');
  const { busy, error, submit } = useSubmit();
  const onSubmit = (e: Event) => {
    e.preventDefault();
    void submit(async () => {
      await bff('POST', `${url}/comments`, { text: text.trim() });
      setText('');
      onDone();
    });
  };
  const comments = cr.comments ?? [];
  return (
    <section aria-labelledby="comments-h">
      <h2 id="comments-h">Comments</h2>
      {comments.length === 0
        ? <p class="empty">No comments yet.</p>
        : (
          <ul class="comments">
            {comments.map((c) => (
              <li key={c.id}><strong>{name(c.actor)}</strong> <span class="muted">{formatTime(c.time)}</span><p>{c.text}</p></li>
            ))}
          </ul>
        )}
      <form onSubmit={onSubmit} class="panel" aria-labelledby="comment-add-h">
        <h3 id="comment-add-h">Add a comment</h3>
        <Field id="comment-text" label="Comment">
          <textarea id="comment-text" required rows={3} maxLength={4000} value={text} onInput={(e) => setText(e.currentTarget.value)} />
        </Field>
        {error && <ErrorMessage message={error} />}
        <button type="submit" disabled={busy}>{busy ? 'Adding…' : 'Add comment'}</button>
      </form>
    </section>
  );
}
