//! Unit tests of the call detail recorder and the records database (SQLite).
