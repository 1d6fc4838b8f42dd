//! Shared pieces of the examples and cross-crate tests: Go-style handlers and gorilla-style
//! WebSockets on axum. The libraries themselves live in `crates/`.
