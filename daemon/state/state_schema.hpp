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
    // 1 -> 2: the probes' run history, aggregated per minute, 10 minutes
    // and hour (probe_history.hpp).
    R"sql(
      CREATE TABLE history_probes (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL               -- what its key values mean
      );
      CREATE TABLE history (
        probe INTEGER NOT NULL,          -- history_probes.id
        step_s INTEGER NOT NULL,         -- 60, 600 or 3600
        start_s INTEGER NOT NULL,        -- Unix seconds, a multiple of step_s
        runs INTEGER NOT NULL,           -- ok + failed + timed out
        failed INTEGER NOT NULL,         -- not counting timeouts
        timed_out INTEGER NOT NULL,
        skipped INTEGER NOT NULL,
        duration_min_us INTEGER,         -- NULL without a run
        duration_sum_us INTEGER,
        duration_max_us INTEGER,
        key1 REAL, key2 REAL, key3 REAL, -- the kind's key values, NULL when none
        PRIMARY KEY (probe, step_s, start_s)
      ) WITHOUT ROWID;
    )sql",
};

}  // namespace vitals::state_schema
