#pragma once
// Internal to the WorkspaceStore backends (sqlite/, postgres/): the column lists their
// SELECTs and INSERTs share with their row readers (same order in every backend, so a
// reader's column indexes mean the same thing everywhere). String-literal macros, so they
// concatenate into SQL text at compile time.

#define EV_WS_ITEM_COLUMNS "kind, key, body, revision, created_at, updated_at"
#define EV_WS_REVISION_COLUMNS "seq, time, actor, reason, op, kind, key, environment, before, after"
#define EV_WS_OUTBOX_COLUMNS "id, kind, payload, created_at, attempts"
#define EV_WS_ACTIVITY_COLUMNS "id, time, actor, action, details"
#define EV_WS_WEBHOOK_COLUMNS \
  "id, body, secret, secret_version, created_at, updated_at, cursor, failing, last_error"
#define EV_WS_CHANGE_REQUEST_COLUMNS                                                    \
  "id, version, title, description, author, state, state_reason, base_revision, round, " \
  "applied_revision, body, created_at, updated_at, apply_at, schedule"
