//! Issue 10's regressions, one test per bug, named for it (as ripgrep
//! keeps a regression module): probing (bodies, certificates, causes) and
//! inputs (time ranges, stores, errors, output).

mod inputs;
mod probing;
