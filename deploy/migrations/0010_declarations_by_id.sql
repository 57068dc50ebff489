-- Audit replay compares its state with a live store one page of
-- declarations at a time, by id in byte order (collation "C", as SQLite and
-- Go compare), so that two stores of different kinds are walked in the same
-- order. The primary key is in the database's collation; this index serves
-- the byte-order walk without sorting the table for every page.
CREATE INDEX IF NOT EXISTS declarations_id_bytes ON declarations ((id COLLATE "C"), version);
