//! sip (to be written).
