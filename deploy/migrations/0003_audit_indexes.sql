-- Every audit entry paid for six indexes, and the hot path appends about ten
-- entries per declaration. The indexes on kind and agency hold a handful of
-- distinct values each: they cost about 8 % of the CPU of accepting a
-- declaration (embedded store, measured) and narrow a search little. Queries
-- by declaration, message, plate and time keep their indexes; a query by
-- kind or agency alone walks the log in sequence order (bound it with a time
-- range on a large log).
DROP INDEX IF EXISTS audit_kind;
DROP INDEX IF EXISTS audit_agency;
