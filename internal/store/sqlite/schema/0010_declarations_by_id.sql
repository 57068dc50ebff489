-- Audit replay compares its state with a live store one page of
-- declarations at a time, by id. SQLite compares text byte by byte (BINARY),
-- so the primary key (id, version) already serves the walk; this migration
-- only keeps the numbering the same as Postgres's, where the walk needs an
-- index of its own (collation "C").
SELECT 1;
