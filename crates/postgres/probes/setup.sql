-- A cut-down journal for the transition-shape probe (run.sh): runs, steps, the event counter row.
CREATE TABLE runs (id TEXT PRIMARY KEY, status TEXT NOT NULL, lease_owner TEXT, lease_epoch BIGINT NOT NULL DEFAULT 0, updated_at BIGINT NOT NULL DEFAULT 0);
CREATE TABLE steps (run_id TEXT NOT NULL, key TEXT NOT NULL, status TEXT NOT NULL, output_json TEXT, attempts BIGINT NOT NULL DEFAULT 0, updated_at BIGINT, finished_at BIGINT, inline_attempt BIGINT, PRIMARY KEY (run_id, key));
CREATE TABLE counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
INSERT INTO counters VALUES ('events', 0);
CREATE TABLE events (global_seq BIGINT PRIMARY KEY, run_id TEXT, run_seq BIGINT, at BIGINT NOT NULL, data TEXT NOT NULL);
CREATE UNIQUE INDEX events_by_run ON events(run_id, run_seq) WHERE run_id IS NOT NULL;
INSERT INTO runs(id, status, lease_owner, lease_epoch) SELECT 'run-' || c, 'running', 'w1', 1 FROM generate_series(1, 8) c;
CREATE SEQUENCE stepno;
-- One retry_safe step recorded: fence, step row, two events (numbered from the counter row).
CREATE FUNCTION record_step(p_run TEXT, p_worker TEXT, p_epoch BIGINT, p_key TEXT, p_output TEXT, p_now BIGINT)
RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE seq BIGINT; rseq BIGINT;
BEGIN
  PERFORM 1 FROM runs WHERE id = p_run AND lease_owner = p_worker AND lease_epoch = p_epoch;
  IF NOT FOUND THEN RAISE EXCEPTION 'lease lost' USING ERRCODE = 'P0001'; END IF;
  INSERT INTO steps(run_id, key, status, output_json, attempts, updated_at, finished_at, inline_attempt)
    VALUES (p_run, p_key, 'succeeded', p_output, 1, p_now, p_now, p_epoch);
  UPDATE counters SET value = value + 2 WHERE name = 'events' RETURNING value INTO seq;
  SELECT COALESCE(MAX(run_seq), 0) INTO rseq FROM events WHERE run_id = p_run;
  INSERT INTO events VALUES (seq - 1, p_run, rseq + 1, p_now, '{"type":"attempt_started"}'),
                            (seq, p_run, rseq + 2, p_now, '{"type":"attempt_finished"}');
  RETURN seq;
END $$;
CREATE TABLE floor(id BIGSERIAL PRIMARY KEY, data TEXT);
