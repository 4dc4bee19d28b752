//! The CMS web app (axum) on top of `cms-db`, which holds everything that talks to a database.

pub mod web;
