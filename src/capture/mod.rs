//! capture (to be written).
