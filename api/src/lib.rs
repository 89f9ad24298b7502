//! The learning API: users, uploads, videos, marks, notes (the API issue builds it out).
//!
//! Only this crate knows SQL. Built so far: the database and the minimal `videos` table the
//! origin and `lectern import` need.
//!
//! # Layout
//! - [`db`]: opening the SQLite database (WAL, migrations) and the video queries.

pub mod db;

pub use db::{Database, DbError, NewVideo, VideoRow};
