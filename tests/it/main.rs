//! Integration tests: one binary, modules by capability, shared helpers in
//! `util`. Every server here is a real one on loopback.

mod errors;
mod hdr_reference;
mod phases;
mod util;
