//! handover (to be written).
