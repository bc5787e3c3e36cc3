//! Warrants: the model of court orders and agencies, loading and validating the TOML store,
//! identity normalisation (the matching key) and the active warrant table.

mod diff;
mod document;
mod error;
mod identity;
mod load;
mod mention;
mod model;
mod policy;
mod schema;
mod table;
mod validate;
#[cfg(test)]
mod validate_tests;

pub use diff::{changes, describe, Change};
pub use document::document;
pub use error::WarrantError;
pub use identity::{from_uri, is_anonymous, parse_target, Identity, IdentityError, Numbering};
pub use load::{check, check_paths, load_file, Checked, Store, AGENCIES_FILE};
pub use mention::names_a_target;
pub use model::{
    Agency, Appliance, Endpoint, EndpointError, Liid, LiidError, OrderKind, Profile, Target,
    Warrant,
};
pub use policy::{Entitlement, PostCutThroughDigits};
pub use table::WarrantTable;
