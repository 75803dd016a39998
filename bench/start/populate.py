#!/usr/bin/env python3
"""bench/start/run.sh's client: a workspace "start" with one environment and N flags of
bench/delivery's shape, written as batches of 500, one commit each (a batch's validation is linear
in its size: bench/workspace/batch_plan_bench.cc).

  populate.py API ADMIN_KEY N CONTROL_DB
"""
import os
import sqlite3
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "delivery"))
from drive import Conn, flag_body, must  # noqa: E402


def main():
    api_url, admin, n, control_db = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    # The default plan allows 5000 items per workspace; raise it for this org.
    db = sqlite3.connect(control_db, timeout=10)
    db.execute("UPDATE orgs SET max_items = ?", (n + 1000,))
    db.commit()
    db.close()
    api = Conn(api_url, admin)
    must(api.call("POST", "/v1/workspaces", {"key": "start", "name": "Start"}), 201)
    must(api.call("POST", "/v1/workspaces/start/environments",
                  {"key": "prod", "name": "Production", "reason": "bench"}), 201)
    body = flag_body("prod", "bench")
    for first in range(0, n, 500):
        changes = [{"kind": "flag", "key": f"flag_{i:05d}",
                    "body": {k: v for k, v in body.items() if k != "reason"}}
                   for i in range(first, min(n, first + 500))]
        must(api.call("POST", "/v1/workspaces/start/batch",
                      {"changes": changes, "reason": "bench"}), 200)


if __name__ == "__main__":
    main()
