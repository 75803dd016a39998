// Client-side routing on the path: the console answers index.html for every GET outside
// /bff/ and /assets/, so a reload or a shared link lands on the same page.
import { signal } from '@preact/signals';

export const path = signal(location.pathname);

export function navigate(to: string, replace = false): void {
  if (to === location.pathname) return;
  if (replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  path.value = to;
}

addEventListener('popstate', () => {
  path.value = location.pathname;
});

// For <a href> links: a plain click navigates in place; modified clicks keep the browser's
// behaviour (new tab, etc.).
export function linkClick(e: MouseEvent): void {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = e.currentTarget as HTMLAnchorElement;
  e.preventDefault();
  navigate(a.pathname);
}
