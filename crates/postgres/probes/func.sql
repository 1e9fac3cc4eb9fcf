\set r random(1, 8)
SELECT record_step('run-' || :r, 'w1', 1, 's/' || nextval('stepno'), '{"ok": true}', 1);
