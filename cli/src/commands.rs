//! One module per subcommand.

pub mod accept;
pub mod answer;
pub mod ask;
pub mod delete;
pub mod dial;
pub mod endorse;
pub mod feed;
pub mod id;
pub mod init;
pub mod invite;
pub mod join;
pub mod log;
pub mod peers;
pub mod post;
pub mod profile;
pub mod questions;
pub mod reindex;
pub mod reply;
pub mod search;
pub mod status;
pub mod thread;
pub mod trust;
pub mod up;
pub mod web;
pub mod wiki;
