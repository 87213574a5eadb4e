//! The Agora web layer: the REST API (/api/v1) on axum, and later the server-rendered pages.
