-- Content-addressed blobs: the mapping files, code lists and XSDs each
-- message was built with, keyed by the SHA-256 of their bytes (hex). A
-- message.built audit entry names the set it was built with; audit export
-- puts the blobs into the archive, so a rebuild years later needs nothing
-- but the archive. Rows are never updated: the same hash is the same bytes.
CREATE TABLE IF NOT EXISTS blobs (
    sha256     TEXT PRIMARY KEY,
    data       BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
