//! The CMS HTTP server: pages built from sections, posts, uploaded images, a JSON API and a
//! health check, on SQLite or PostgreSQL through a connection pool.
//!
//! `main.rs` parses flags and calls [`startup::check`] (refuses to serve a database with pending
//! or modified migrations), [`pool::Db::open`] and [`app::serve`]. Everything that touches the
//! database runs on tokio's blocking threads.

pub mod api;
pub mod app;
pub mod content;
pub mod dates;
pub mod error;
pub mod health;
pub mod html;
pub mod locale;
pub mod markdown;
pub mod pool;
pub mod render;
pub mod startup;
pub mod uploads;
