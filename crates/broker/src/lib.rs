//! A standalone MQTT 3.1.1/5.0 broker on tokio: listeners, sessions, routing, retained messages, limits, and the authentication/authorisation seam. Knows nothing of markets.
