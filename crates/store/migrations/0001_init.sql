-- Agora market schema, version 1.
--
-- Portable SQL on purpose (SQLite now, PostgreSQL later with its own copy of this file):
-- ids are TEXT (UUID v7, time-ordered, so ORDER BY id is creation order), times are
-- INTEGER Unix seconds, booleans INTEGER 0/1, JSON is TEXT. Case-insensitive uniqueness
-- uses lower(name) expression indexes (names are ASCII by rule). Devices, products and
-- hubs are soft-deleted (deleted_at), so purchases, sales and audit history survive and a
-- name can be reused once its holder is gone.

CREATE TABLE accounts (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('user', 'admin')),
    suspended     INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);
CREATE UNIQUE INDEX accounts_name ON accounts (lower(name));

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    expires_at   INTEGER,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER
);
CREATE INDEX api_tokens_account ON api_tokens (account_id, id);

CREATE TABLE hubs (
    id          TEXT PRIMARY KEY,
    owner_id    TEXT NOT NULL REFERENCES accounts (id),
    owner_name  TEXT NOT NULL,
    name        TEXT NOT NULL,
    public      INTEGER NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    deleted_at  INTEGER
);
CREATE UNIQUE INDEX hubs_owner_name ON hubs (owner_id, lower(name)) WHERE deleted_at IS NULL;

CREATE TABLE devices (
    id              TEXT PRIMARY KEY,
    hub_id          TEXT NOT NULL REFERENCES hubs (id),
    owner_id        TEXT NOT NULL REFERENCES accounts (id),
    name            TEXT NOT NULL,
    username        TEXT NOT NULL,
    credential_kind TEXT NOT NULL CHECK (credential_kind IN ('secret', 'public_key')),
    secret_hash     TEXT,
    public_key_pem  TEXT,
    created_at      INTEGER NOT NULL,
    rotated_at      INTEGER,
    deleted_at      INTEGER,
    CHECK ((credential_kind = 'secret') = (secret_hash IS NOT NULL)),
    CHECK ((credential_kind = 'public_key') = (public_key_pem IS NOT NULL))
);
CREATE UNIQUE INDEX devices_hub_name ON devices (hub_id, lower(name)) WHERE deleted_at IS NULL;
CREATE INDEX devices_username ON devices (username);

CREATE TABLE products (
    id                 TEXT PRIMARY KEY,
    hub_id             TEXT NOT NULL REFERENCES hubs (id),
    owner_id           TEXT NOT NULL REFERENCES accounts (id),
    name               TEXT NOT NULL,
    topic              TEXT NOT NULL,
    title              TEXT NOT NULL,
    description        TEXT NOT NULL,
    kind               TEXT NOT NULL CHECK (kind IN ('sensor', 'actuator', 'both')),
    restricted         INTEGER NOT NULL,
    plan_kind          TEXT NOT NULL CHECK (plan_kind IN ('free', 'period', 'messages')),
    plan_days          INTEGER,
    plan_count         INTEGER,
    price_cents        INTEGER NOT NULL CHECK (price_cents >= 0),
    lat                REAL,
    lon                REAL,
    -- ',a,b,' so that a tag filter is a portable LIKE '%,tag,%' (tags are [a-z0-9-]).
    tags               TEXT NOT NULL DEFAULT ',',
    declared_rate_secs INTEGER,
    payload_schema     TEXT,
    licence            TEXT NOT NULL,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    deleted_at         INTEGER
);
CREATE UNIQUE INDEX products_hub_name ON products (hub_id, lower(name)) WHERE deleted_at IS NULL;
CREATE INDEX products_topic ON products (topic);
CREATE INDEX products_location ON products (lat, lon) WHERE deleted_at IS NULL;

CREATE TABLE purchases (
    id             TEXT PRIMARY KEY,
    product_id     TEXT NOT NULL REFERENCES products (id),
    buyer_id       TEXT NOT NULL REFERENCES accounts (id),
    seller_id      TEXT NOT NULL REFERENCES accounts (id),
    topic          TEXT NOT NULL,
    plan_kind      TEXT NOT NULL,
    plan_days      INTEGER,
    plan_count     INTEGER,
    price_cents    INTEGER NOT NULL,
    paid_cents     INTEGER NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('pending', 'active', 'expired', 'exhausted', 'cancelled', 'revoked', 'declined')),
    message        TEXT,
    created_at     INTEGER NOT NULL,
    started_at     INTEGER,
    ends_at        INTEGER,
    quota_messages INTEGER,
    used_messages  INTEGER NOT NULL DEFAULT 0,
    used_bytes     INTEGER NOT NULL DEFAULT 0,
    ended_at       INTEGER,
    decided_by     TEXT,
    reason         TEXT
);
CREATE INDEX purchases_buyer ON purchases (buyer_id, id);
CREATE INDEX purchases_seller ON purchases (seller_id, id);
CREATE INDEX purchases_product ON purchases (product_id, buyer_id);
CREATE INDEX purchases_due ON purchases (state, ends_at);

CREATE TABLE access_keys (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    name       TEXT NOT NULL,
    key_hash   TEXT NOT NULL UNIQUE,
    expires_at INTEGER,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX access_keys_account ON access_keys (account_id, id);

CREATE TABLE access_key_products (
    key_id     TEXT NOT NULL REFERENCES access_keys (id),
    product_id TEXT NOT NULL REFERENCES products (id),
    PRIMARY KEY (key_id, product_id)
);

CREATE TABLE notifications (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts (id),
    kind        TEXT NOT NULL,
    message     TEXT NOT NULL,
    topic       TEXT,
    purchase_id TEXT,
    created_at  INTEGER NOT NULL,
    read_at     INTEGER
);
CREATE INDEX notifications_account ON notifications (account_id, id);

CREATE TABLE ratings (
    product_id TEXT NOT NULL REFERENCES products (id),
    buyer_id   TEXT NOT NULL REFERENCES accounts (id),
    stars      INTEGER NOT NULL CHECK (stars BETWEEN 1 AND 5),
    review     TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (product_id, buyer_id)
);

-- The one non-portable line: PostgreSQL spells this BIGINT GENERATED ALWAYS AS IDENTITY.
CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    actor_id   TEXT,
    actor_name TEXT,
    action     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    detail     TEXT NOT NULL
);
CREATE INDEX audit_log_actor ON audit_log (actor_id, id);
