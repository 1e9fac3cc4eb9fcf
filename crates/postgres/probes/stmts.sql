\set r random(1, 8)
BEGIN;
SELECT lease_owner, lease_epoch, status FROM runs WHERE id = 'run-' || :r;
SELECT nextval('stepno');
SELECT 1 FROM steps WHERE run_id = 'run-' || :r AND key = 's/' || currval('stepno');
INSERT INTO steps(run_id, key, status, output_json, attempts, updated_at, finished_at, inline_attempt) VALUES ('run-' || :r, 's/' || currval('stepno'), 'succeeded', '{"ok": true}', 1, 1, 1, 1);
UPDATE counters SET value = value + 2 WHERE name = 'events' RETURNING value;
SELECT COALESCE(MAX(run_seq), 0) FROM events WHERE run_id = 'run-' || :r;
INSERT INTO events VALUES ((SELECT value FROM counters WHERE name='events') - 1, 'run-' || :r, (SELECT COALESCE(MAX(run_seq),0)+1 FROM events WHERE run_id = 'run-' || :r), 1, '{"type":"attempt_started"}');
INSERT INTO events VALUES ((SELECT value FROM counters WHERE name='events'), 'run-' || :r, (SELECT COALESCE(MAX(run_seq),0)+1 FROM events WHERE run_id = 'run-' || :r), 1, '{"type":"attempt_finished"}');
COMMIT;
