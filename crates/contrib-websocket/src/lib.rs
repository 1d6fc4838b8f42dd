//! Deprecated: the `hertz-contrib/websocket`-style API. Not written yet; see MIGRATION.md.
