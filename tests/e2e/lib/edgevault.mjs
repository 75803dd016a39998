// Starts a real `edgevault up --port-base 0` (every service on a port the kernel picks;
// nothing is probed) in a temporary data directory, reads the ports the services report in
// DATA_DIR/run/<name>.port, and gives tests small helpers to talk to them. Used by every
// tests/e2e/*.test.mjs.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const BIN_DIR = process.env.EDGEVAULT_BIN_DIR ||
  path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../../build/bin');

const SERVICES = ['console', 'api', 'delivery', 'auth', 'audit'];

// The port each service reported in DATA_DIR/run/<name>.port (written once it listens),
// or undefined while a file is missing.
function readPorts(dataDir) {
  const ports = {};
  for (const name of SERVICES) {
    let text;
    try { text = readFileSync(path.join(dataDir, 'run', `${name}.port`), 'utf8'); } catch { return undefined; }
    const port = Number.parseInt(text, 10);
    if (!(port > 0)) return undefined;
    ports[name] = port;
  }
  return ports;
}

export class EdgeVault {
  // `extraArgs`: more arguments for `edgevault up` (--set key=value ...).
  static async start({ extraArgs = [] } = {}) {
    const ev = new EdgeVault();
    ev.tmp = mkdtempSync(path.join(os.tmpdir(), 'ev-e2e-'));
    ev.dataDir = path.join(ev.tmp, 'data');
    ev.output = '';
    ev.proc = spawn(path.join(BIN_DIR, 'edgevault'),
      ['up', '--data-dir', ev.dataDir, '--port-base', '0', ...extraArgs],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    ev.proc.stdout.on('data', (d) => { ev.output += d; });
    ev.proc.stderr.on('data', (d) => { ev.output += d; });
    const deadline = Date.now() + 60000;
    while (!/EdgeVault is up/.test(ev.output)) {
      if (ev.proc.exitCode !== null) throw new Error(`edgevault up exited:\n${ev.output}`);
      if (Date.now() > deadline) throw new Error(`edgevault up did not start:\n${ev.output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    // Every service answered /healthz; each wrote its port file right after it started
    // listening, so the files are there or about to be.
    while (!(ev.ports = readPorts(ev.dataDir))) {
      if (Date.now() > deadline) throw new Error(`no port files in ${ev.dataDir}/run:\n${ev.output}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const email = /email:\s+(\S+)/.exec(ev.output);
    const password = /password:\s+(\S+)/.exec(ev.output);
    if (!email || !password) throw new Error(`no bootstrap credentials printed:\n${ev.output}`);
    ev.ownerEmail = email[1];
    ev.ownerOneTimePassword = password[1];
    ev.adminKey = readFileSync(path.join(ev.dataDir, 'bootstrap-admin.key'), 'utf8').trim();
    return ev;
  }

  port(service) { return this.ports[service]; }

  url(service) { return `http://127.0.0.1:${this.ports[service]}`; }

  async call(service, method, target, { body, bearer, headers = {} } = {}) {
    const h = { ...headers };
    if (body !== undefined) h['content-type'] = 'application/json';
    if (bearer) h.authorization = `Bearer ${bearer}`;
    // Bounded: a service that never answers fails the test naming the request, instead of
    // hanging it until CTest's timeout with nothing said.
    const res = await fetch(this.url(service) + target, {
      method, headers: h, body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(60000),
    }).catch((e) => { throw new Error(`${service} ${method} ${target}: ${e.message}`); });
    const text = await res.text();
    let json;
    try { json = JSON.parse(text); } catch { json = undefined; }
    return { status: res.status, json, text, headers: res.headers };
  }

  auth(method, target, opts) { return this.call('auth', method, target, opts); }

  // Logs the owner in and replaces the one-time password; returns a session token.
  async ownerSession(newPassword = 'e2e owner password 1') {
    let r = await this.auth('POST', '/v1/login',
      { body: { email: this.ownerEmail, password: this.ownerOneTimePassword } });
    if (r.status !== 200) throw new Error(`login: ${r.status} ${r.text}`);
    r = await this.auth('POST', '/v1/password', {
      bearer: r.json.session,
      body: { current_password: this.ownerOneTimePassword, new_password: newPassword },
    });
    if (r.status !== 200) throw new Error(`password change: ${r.status} ${r.text}`);
    this.ownerPassword = newPassword;
    return r.json.session;
  }

  async stop() {
    if (this.proc && this.proc.exitCode === null) {
      this.proc.kill('SIGTERM');
      await new Promise((resolve) => {
        const t = setTimeout(() => { this.proc.kill('SIGKILL'); resolve(); }, 10000);
        this.proc.once('exit', () => { clearTimeout(t); resolve(); });
      });
    }
    rmSync(this.tmp, { recursive: true, force: true });
  }
}
