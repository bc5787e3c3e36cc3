//! Pieces of the `tapline` command line kept out of `main.rs`: logging set-up and the
//! checks that turn an incomplete run into a loud message and a non-zero exit.

pub mod checks;
pub mod docs;
pub mod logging;
#[cfg(test)]
mod flags_tests;
