-- Who changed a silence last, as authenticated (a token's name, the
-- receiver's ingest credentials, or anonymous while everything is open):
-- createdBy is what the client says, this is what gatewarden knows.
ALTER TABLE silences ADD COLUMN changed_by TEXT NOT NULL DEFAULT '';
