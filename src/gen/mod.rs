//! gen (to be written).
