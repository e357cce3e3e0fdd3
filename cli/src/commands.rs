//! One module per subcommand.

pub mod dial;
pub mod feed;
pub mod id;
pub mod init;
pub mod invite;
pub mod join;
pub mod log;
pub mod peers;
pub mod post;
pub mod reindex;
pub mod status;
pub mod trust;
pub mod up;
pub mod wiki;
