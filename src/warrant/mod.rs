//! warrant (to be written).
