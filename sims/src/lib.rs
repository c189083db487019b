//! Not built yet: this crate's capability lands with its own issue. See README.md.
