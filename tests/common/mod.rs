//! Helpers shared by integration tests (`mod common;`); each test crate uses a subset.
#![allow(dead_code)]

pub mod handbuilt;
pub mod lemf;
pub mod oracle;
pub mod poi;
pub mod output;
pub mod provision;
pub mod tshark;
pub mod warrants;
pub mod x1;
