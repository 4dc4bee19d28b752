//! One module per command: its flags (`Args`) and its `run`. A command never imports another
//! command; what they share lives in the crate's library modules.

pub mod backup;
pub mod bench;
pub mod check;
pub mod diff;
pub mod generate;
pub mod lint;
pub mod migrate;
pub mod push;
pub mod reset_complete;
pub mod reset_data;
pub mod restore;
pub mod rollback;
pub mod seed;
pub mod seed_images;
pub mod status;
pub mod studio;
