#!/usr/bin/env python3
"""Client side of bench/delivery/run.sh: talks to a running `edgevault up` over HTTP.

  drive.py setup API DELIVERY ADMIN_KEY            → prints "WS ENV SDK_KEY FLAG"
  drive.py propagation API DELIVERY ADMIN_KEY WS ENV SDK_KEY N
  drive.py manyflags API DELIVERY ADMIN_KEY WS ENV SDK_KEY N SECONDS CONTROL_DB
  drive.py empty API DELIVERY ADMIN_KEY            → workspace "empty" (one environment, no
                                                     items) loaded by delivery; prints its size
  drive.py churn API DELIVERY ADMIN_KEY WS ENV SDK_KEY FLAGS WRITES DELIVERY_PID CONTROL_DB
                                                   → FLAGS flags in batches, then WRITES config
                                                     writes, each read by 4 clients at once
                                                     (documents rebuilt on several io threads);
                                                     delivery's VmRSS as it goes
Standard library only; one keep-alive connection per service.
"""
import http.client
import json
import math
import sqlite3
import statistics
import sys
import time


class Conn:
    def __init__(self, base, bearer):
        host, port = base.replace("http://", "").split(":")
        self.host, self.port, self.bearer = host, int(port), bearer
        self.c = http.client.HTTPConnection(self.host, self.port, timeout=30)

    def call(self, method, path, body=None):
        headers = {"Authorization": "Bearer " + self.bearer}
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            headers["Content-Type"] = "application/json"
        for attempt in range(2):
            try:
                self.c.request(method, path, body=data, headers=headers)
                r = self.c.getresponse()
                return r.status, r.read()
            except (http.client.HTTPException, ConnectionError):
                if attempt:
                    raise
                self.c.close()
                self.c = http.client.HTTPConnection(self.host, self.port, timeout=30)


def must(status_body, *ok):
    status, body = status_body
    if status not in ok:
        sys.exit(f"unexpected {status}: {body[:300]!r}")
    return json.loads(body) if body else None


def flag_body(env, reason):
    # A rule on an attribute, then a 50/50 rollout: the OFREP path does real work.
    return {
        "variations": [{"value": True, "name": "on"}, {"value": False, "name": "off"}],
        "environments": {env: {
            "on": True, "off_variation": 1, "targets": [],
            "rules": [{"clauses": [{"attribute": "country", "op": "in", "values": ["nz", "au"]}],
                       "variation": 0}],
            "fallthrough": {"rollout": [{"variation": 0, "weight": 50000},
                                        {"variation": 1, "weight": 50000}]},
            "prerequisites": []}},
        "reason": reason,
    }


def setup(api_url, dlv_url, admin):
    api = Conn(api_url, admin)
    must(api.call("POST", "/v1/workspaces", {"key": "bench", "name": "Bench"}), 201)
    ws = "bench"
    must(api.call("POST", f"/v1/workspaces/{ws}/environments",
                  {"key": "prod", "name": "Production", "reason": "bench"}), 201)
    # Eight string configs of ~200 bytes and one flag: a resolved document of about 2 KiB.
    for i in range(8):
        must(api.call("PUT", f"/v1/workspaces/{ws}/configs/setting_{i}",
                      {"type": "string", "values": {"prod": f"value {i} " + "x" * 150},
                       "reason": "bench"}), 200, 201)
    must(api.call("PUT", f"/v1/workspaces/{ws}/flags/new_checkout", flag_body("prod", "bench")),
         200, 201)
    sdk = must(api.call("POST", f"/v1/workspaces/{ws}/environments/prod/sdk-keys",
                        {"name": "bench"}), 201)["key"]
    dlv = Conn(dlv_url, sdk)
    deadline = time.monotonic() + 30
    while True:
        status, body = dlv.call("GET", "/v1/config")
        if status == 200 and b"new_checkout" in body:
            break
        if time.monotonic() > deadline:
            sys.exit(f"delivery never served the document: {status} {body[:200]!r}")
        time.sleep(0.01)
    print(ws, "prod", sdk, "new_checkout")


def pct(sorted_values, p):
    # Nearest rank: the smallest value with at least p% of the samples at or below it.
    k = max(0, min(len(sorted_values) - 1, math.ceil(p / 100 * len(sorted_values)) - 1))
    return sorted_values[k]


def propagation(api_url, dlv_url, admin, ws, env, sdk, n):
    api, dlv = Conn(api_url, admin), Conn(dlv_url, sdk)
    delays, polls = [], 0
    for i in range(n):
        marker = f"prop-{i}-{time.time_ns()}"
        must(api.call("PUT", f"/v1/workspaces/{ws}/configs/propagation",
                      {"type": "string", "values": {env: marker}, "reason": "bench"}), 200, 201)
        t0 = time.perf_counter()
        needle = marker.encode()
        while True:
            status, body = dlv.call("GET", "/v1/config")
            polls += 1
            if status == 200 and needle in body:
                break
            if time.perf_counter() - t0 > 10:
                sys.exit(f"write {i} not visible after 10 s")
            time.sleep(0.001)
        delays.append((time.perf_counter() - t0) * 1000)
    d = sorted(delays)
    print(f"propagation over {n} writes (api 2xx -> visible on GET /v1/config, 1 ms polling): "
          f"p50 {pct(d, 50):.2f} ms, p99 {pct(d, 99):.2f} ms, max {d[-1]:.2f} ms, "
          f"mean {statistics.mean(d):.2f} ms, {polls / n:.1f} polls/write")


def manyflags(api_url, dlv_url, admin, ws, env, sdk, n, seconds, control_db):
    # The default plan allows 5000 items per workspace; raise it for this org.
    db = sqlite3.connect(control_db, timeout=10)
    db.execute("UPDATE orgs SET max_items = ?", (n + 1000,))
    db.commit()
    db.close()
    api = Conn(api_url, admin)
    t0 = time.monotonic()
    created = 0
    for i in range(n):
        if time.monotonic() - t0 > seconds:
            break
        must(api.call("PUT", f"/v1/workspaces/{ws}/flags/flag_{i:05d}",
                      flag_body(env, "bench")), 200, 201)
        created += 1
    write_s = time.monotonic() - t0
    last = f"flag_{created - 1:05d}".encode()
    dlv = Conn(dlv_url, sdk)
    t1 = time.monotonic()
    while True:
        status, body = dlv.call("GET", "/v1/config")
        if status == 200 and last in body:
            break
        if time.monotonic() - t1 > 300:
            sys.exit("delivery never served the big document")
        time.sleep(0.05)
    wait_s = time.monotonic() - t1
    for _ in range(5):
        must(dlv.call("GET", "/v1/config"), 200)
        must(dlv.call("POST", f"/ofrep/v1/evaluate/flags/flag_{created // 2:05d}",
                      {"context": {"targetingKey": "user-7", "country": "de"}}), 200)
    must(dlv.call("POST", "/ofrep/v1/evaluate/flags", {"context": {"targetingKey": "user-7"}}), 200)
    print(f"{created} flags created in {write_s:.1f} s ({created / write_s:.0f}/s); "
          f"visible on delivery {wait_s:.1f} s later; document {len(body)} bytes")


def rss_kb(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def churn(api_url, dlv_url, admin, ws, env, sdk, flags, writes, dpid, control_db):
    import threading
    db = sqlite3.connect(control_db, timeout=10)
    db.execute("UPDATE orgs SET max_items = ?", (flags + 1000,))
    db.commit()
    db.close()
    api = Conn(api_url, admin)
    for start in range(0, flags, 2000):
        changes = [{"kind": "flag", "key": f"flag_{i:05d}", "body": {k: v for k, v in flag_body(env, "x").items() if k != "reason"}}
                   for i in range(start, min(flags, start + 2000))]
        must(api.call("POST", f"/v1/workspaces/{ws}/batch", {"changes": changes, "reason": "bench"}), 200)
    readers = [Conn(dlv_url, sdk) for _ in range(4)]

    def read_until(conn, needle, out):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status, body = conn.call("GET", "/v1/config")
            if status == 200 and needle in body:
                out.append(len(body))
                return
            time.sleep(0.002)

    def sample(n):
        return (n, rss_kb(dpid), rss_kb(dpid, "RssAnon"), rss_kb(dpid, "RssFile"))

    samples = [sample(0)]
    size = 0
    seen = []
    for i in range(1, writes + 1):
        marker = f"churn-{i}-{time.time_ns()}"
        must(api.call("PUT", f"/v1/workspaces/{ws}/configs/churn",
                      {"type": "string", "values": {env: marker}, "reason": "bench"}), 200, 201)
        sizes = []
        t0 = time.perf_counter()
        threads = [threading.Thread(target=read_until, args=(c, marker.encode(), sizes)) for c in readers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seen.append((time.perf_counter() - t0) * 1000)
        if len(sizes) != len(readers):
            sys.exit(f"write {i} not seen by every reader")
        size = sizes[0]
        if i % max(1, writes // 8) == 0 or i == writes:
            samples.append(sample(i))
    time.sleep(4)
    samples.append(sample("+4 s"))
    d = sorted(seen)
    print(f"{flags} flags, document {size} bytes, {writes} writes each read by {len(readers)} clients; "
          f"write 2xx -> all {len(readers)} readers saw it: p50 {pct(d, 50):.1f} ms, p99 {pct(d, 99):.1f} ms")
    print("| after write | delivery VmRSS | of which anonymous | of which file-backed (the LMDB map) |")
    print("|---|---|---|---|")
    for n, kb, anon, file in samples:
        print(f"| {n} | {kb / 1024:.1f} MiB | {anon / 1024:.1f} MiB | {file / 1024:.1f} MiB |")


def empty(api_url, dlv_url, admin):
    # A workspace with one environment and nothing in it, loaded by delivery the way
    # manyflags loads the big one: GET /v1/config and OFREP requests.
    api = Conn(api_url, admin)
    must(api.call("POST", "/v1/workspaces", {"key": "empty", "name": "Empty"}), 201)
    must(api.call("POST", "/v1/workspaces/empty/environments",
                  {"key": "prod", "name": "Production", "reason": "bench"}), 201)
    sdk = must(api.call("POST", "/v1/workspaces/empty/environments/prod/sdk-keys",
                        {"name": "bench"}), 201)["key"]
    dlv = Conn(dlv_url, sdk)
    deadline = time.monotonic() + 30
    while True:
        status, body = dlv.call("GET", "/v1/config")
        if status == 200:
            break
        if time.monotonic() > deadline:
            sys.exit(f"delivery never served the empty document: {status} {body[:200]!r}")
        time.sleep(0.01)
    for _ in range(5):
        must(dlv.call("GET", "/v1/config"), 200)
        must(dlv.call("POST", "/ofrep/v1/evaluate/flags/missing",
                      {"context": {"targetingKey": "user-7", "country": "de"}}), 404)
    must(dlv.call("POST", "/ofrep/v1/evaluate/flags", {"context": {"targetingKey": "user-7"}}), 200)
    print(f"empty workspace: document {len(body)} bytes")


def main():
    cmd, a = sys.argv[1], sys.argv[2:]
    if cmd == "setup":
        setup(*a[:3])
    elif cmd == "propagation":
        propagation(*a[:6], int(a[6]))
    elif cmd == "empty":
        empty(*a[:3])
    elif cmd == "churn":
        churn(*a[:6], int(a[6]), int(a[7]), a[8], a[9])
    elif cmd == "manyflags":
        manyflags(*a[:6], int(a[6]), float(a[7]), a[8])
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
