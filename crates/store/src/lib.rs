//! Persistence for the Agora market: sqlx (SQLite by default, PostgreSQL later), migrations, transactions and the change feed of market events.
