pub mod db;
pub mod seed;
