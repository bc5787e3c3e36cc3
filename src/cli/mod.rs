//! Pieces of the `tapline` command line kept out of `main.rs`: logging set-up and the
//! checks that turn an incomplete run into a loud message and a non-zero exit.

pub mod checks;
pub mod decode_calls;
pub mod docs;
pub mod logging;
