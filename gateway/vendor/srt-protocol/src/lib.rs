// Vendored upstream code (see gateway/vendor/README.md): lints newer than it, clippy and rustdoc are quiet here.
#![allow(dead_code, mismatched_lifetime_syntaxes, clippy::all, rustdoc::all)]
pub mod access;
pub mod connection;
pub mod listener;
pub mod options;
pub mod packet;
pub mod protocol;
pub mod settings;
pub mod statistics;
