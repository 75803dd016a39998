// The page of tests/e2e/browser-client-key.test.mjs, bundled by esbuild for Chromium: the
// OpenFeature web SDK with the OFREP web provider, pointed at delivery's /client/{key}/
// routes (docs/connect-your-app.md, "Browser"). Its parameters come from the query string:
//   base  the provider's baseUrl (delivery + /client/evc_...)
//   user  the targetingKey; plan: a context attribute
//   flags comma-separated keys to evaluate (booleans; configs as strings)
// It publishes what happened as window.__result = {ready, error?, values: {key: details}}.
import { OpenFeature, ProviderEvents } from '@openfeature/web-sdk';
import { OFREPWebProvider } from '@openfeature/ofrep-web-provider';

const params = new URLSearchParams(window.location.search);
const result = { ready: false, values: {} };

async function main() {
  const provider = new OFREPWebProvider({ baseUrl: params.get('base'), pollInterval: -1 });
  OpenFeature.addHandler(ProviderEvents.Error, (e) => { result.providerError = String(e?.message ?? e); });
  try {
    await OpenFeature.setProviderAndWait(provider, { targetingKey: params.get('user'), plan: params.get('plan') });
    result.ready = true;
  } catch (e) {
    result.error = String(e?.message ?? e);
  }
  const client = OpenFeature.getClient();
  for (const key of (params.get('flags') || '').split(',').filter(Boolean)) {
    const d = key.includes('.')
      ? client.getStringDetails(key, 'default')
      : client.getBooleanDetails(key, false);
    result.values[key] = { value: d.value, reason: d.reason, variant: d.variant ?? null, errorCode: d.errorCode ?? null };
  }
}

window.__result = main().then(() => result);
