//! Pieces of the `tapline` command line kept out of `main.rs`: logging set-up and the
//! checks that turn an incomplete run into a loud message and a non-zero exit.

pub mod api_config;
pub mod capture;
pub mod checks;
pub mod decode_calls;
pub mod docs;
pub mod logging;
pub mod warrant;
mod warrant_view;
#[cfg(test)]
mod flags_tests;
