-- A partner's Basic password is kept sealed with the installation's secret key, which lives
-- outside the database (see sealed.rs): `password_sealed` takes over from `password`, whose
-- clear text a store given the key seals and removes. The OAuth signing keys' `secret` is
-- sealed the same way, in place (a sealed value starts with `v1.`, a clear one is hex).
-- `secret_key_check` holds a known text sealed with the key the installation's values are
-- sealed with, so that a node given another key refuses to start; one row, inserted by the
-- first node given a key.

ALTER TABLE partner_settings ADD COLUMN password_sealed TEXT;

CREATE TABLE secret_key_check (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    sealed TEXT NOT NULL
);
