-- Browser sessions are API tokens of their own kind, so that token lists can leave them out.
ALTER TABLE api_tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'personal' CHECK (kind IN ('personal', 'web_session'));
