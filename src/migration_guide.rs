//! `MIGRATION.md` as documentation, so that `cargo test --doc` compiles (and, unless they are
//! `no_run`, runs) its Rust blocks. Compiled only when collecting doctests.

#![doc = include_str!("../MIGRATION.md")]
