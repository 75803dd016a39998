// Small shared pieces: a loader with loading / error / data states, status messages, and a
// labelled form field. Every user string is rendered as a text child (never as HTML).
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api';

export type Resource<T> =
  | { state: 'loading'; data?: T }
  | { state: 'error'; error: string; data?: T }
  | { state: 'ok'; data: T };

// Runs `load` when `deps` change; `reload()` runs it again and keeps the previous data on
// screen while it runs (live updates do not flash a loading state).
export function useResource<T>(load: () => Promise<T>, deps: unknown[]): [Resource<T>, () => void] {
  const [res, setRes] = useState<Resource<T>>({ state: 'loading' });
  const generation = useRef(0);
  const run = useCallback(() => {
    const g = ++generation.current;
    setRes((prev) => ({ state: 'loading', data: prev.data }));
    load().then(
      (data) => { if (g === generation.current) setRes({ state: 'ok', data }); },
      (e: unknown) => { if (g === generation.current) setRes((prev) => ({ state: 'error', error: messageOf(e), data: prev.data })); },
    );
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  useEffect(() => {
    run();
    return () => { generation.current++; };
  }, [run]);
  return [res, run];
}

export function messageOf(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  return 'Something went wrong; reload the page and try again.';
}

export function Loading({ what }: { what: string }) {
  return <p role="status" class="muted">Loading {what}…</p>;
}

export function ErrorMessage({ message, retry }: { message: string; retry?: () => void }) {
  return (
    <div role="alert" class="error">
      <p>{message}</p>
      {retry && <button type="button" onClick={retry}>Try again</button>}
    </div>
  );
}

export function Field(props: {
  id: string;
  label: string;
  children: ComponentChildren;
  hint?: string;
}) {
  return (
    <div class="field">
      <label for={props.id}>{props.label}</label>
      {props.children}
      {props.hint && <p class="hint" id={`${props.id}-hint`}>{props.hint}</p>}
    </div>
  );
}

// A form's submit state: busy while the request runs, the error message if it failed.
export function useSubmit(): {
  busy: boolean;
  error: string | undefined;
  submit: (work: () => Promise<void>) => Promise<void>;
  setError: (m: string | undefined) => void;
} {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>(undefined);
  const submit = async (work: () => Promise<void>) => {
    setBusy(true);
    setError(undefined);
    try {
      await work();
    } catch (e) {
      setError(messageOf(e));
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, submit, setError };
}

// A credential shown once (a new SDK key, a webhook's signing secret): the heading takes the
// focus, the value sits in a read-only field with a copy button (selected for Ctrl+C when
// the clipboard is unavailable), and `children` warn that it is not shown again.
export function ShownOnce(props: {
  id: string; title: string; label: string; value: string; what: string; onClose: () => void; children: ComponentChildren;
}) {
  const [copied, setCopied] = useState<string | undefined>(undefined);
  const input = useRef<HTMLInputElement>(null);
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => { heading.current?.focus(); }, [props.value]);
  const copy = () => {
    const fallback = (m: string) => { input.current?.select(); setCopied(m); };
    if (navigator.clipboard?.writeText) {
      navigator.clipboard.writeText(props.value).then(() => setCopied('Copied to the clipboard.'),
        () => fallback(`Copying failed: the ${props.what} is selected, copy it with Ctrl+C.`));
    } else {
      fallback(`The ${props.what} is selected: copy it with Ctrl+C.`);
    }
  };
  return (
    <section class="panel once" aria-labelledby={`${props.id}-h`}>
      <h2 id={`${props.id}-h`} tabIndex={-1} ref={heading}>{props.title}</h2>
      {props.children}
      <Field id={props.id} label={props.label}>
        <input id={props.id} readOnly value={props.value} ref={input} class="mono" onFocus={(e) => e.currentTarget.select()} />
      </Field>
      <div class="actions">
        <button type="button" class="primary" onClick={copy}>Copy {props.what}</button>
        <button type="button" onClick={props.onClose}>I have copied it</button>
      </div>
      {copied && <p role="status" class="ok">{copied}</p>}
    </section>
  );
}
