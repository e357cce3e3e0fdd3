//! One module per subcommand.

pub mod feed;
pub mod id;
pub mod init;
pub mod log;
pub mod post;
pub mod reindex;
pub mod trust;
