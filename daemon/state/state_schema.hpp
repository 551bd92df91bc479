#pragma once

// The state file's schema, version by version: entry i moves a file from
// version i to i + 1 (state_store::migrate runs them, one transaction each).
// Never edit a shipped entry: add one, and raise state_store::schema_version.

namespace vitals::state_schema {

inline constexpr const char* migrations[] = {
    R"sql(
      CREATE TABLE alerts (
        rule TEXT NOT NULL,
        labels TEXT NOT NULL,            -- JSON object
        expr TEXT NOT NULL,              -- the rule's expression when saved
        state TEXT NOT NULL CHECK (state IN ('pending', 'firing')),
        value REAL,
        active_since_ms INTEGER NOT NULL,
        fired_at_ms INTEGER,
        last_seen_ms INTEGER NOT NULL,
        keep_firing_since_ms INTEGER,
        summary TEXT NOT NULL,
        description TEXT NOT NULL,
        runbook_url TEXT NOT NULL,
        evidence TEXT NOT NULL,
        incident_id INTEGER,
        PRIMARY KEY (rule, labels)
      );
      CREATE TABLE incidents (
        id INTEGER PRIMARY KEY,
        alertname TEXT NOT NULL,
        severity TEXT NOT NULL,
        labels TEXT NOT NULL,            -- JSON object
        started_ms INTEGER NOT NULL,
        resolved_ms INTEGER,             -- NULL while it fires
        summary TEXT NOT NULL,
        runbook_url TEXT NOT NULL,
        evidence TEXT NOT NULL           -- JSON object
      );
      CREATE INDEX incidents_by_start ON incidents (started_ms);
    )sql",
};

}  // namespace vitals::state_schema
