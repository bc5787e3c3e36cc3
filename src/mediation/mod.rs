//! mediation (to be written).
