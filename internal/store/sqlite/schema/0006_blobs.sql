-- Content-addressed blobs: the mapping files, code lists and XSDs each
-- message was built with, keyed by the SHA-256 of their bytes (hex). See
-- deploy/migrations/0006_blobs.sql.
CREATE TABLE IF NOT EXISTS blobs (
    sha256     TEXT PRIMARY KEY,
    data       BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
