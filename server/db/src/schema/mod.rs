//! The schema engine: sources become databases, databases are introspected into a [`Schema`],
//! schemas are diffed by pure functions and the changes rendered as each dialect's DDL,
//! verified on a scratch database before anyone sees them.

pub mod declare;
pub mod diff;
pub mod introspect;
pub mod model;
pub mod preflight;
pub mod source;
pub mod sql;
pub mod verify;

pub use model::*;
