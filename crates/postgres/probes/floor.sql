BEGIN;
INSERT INTO floor(data) VALUES (repeat('Z', 256));
COMMIT;
