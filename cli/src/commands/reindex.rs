//! `kith reindex`: rebuild the views from the entries. With a node
//! running, the rebuild is a job on the node (which keeps replicating and
//! answering meanwhile) and this shows its progress.

use std::time::Duration;

use anyhow::Result;
use kith_node::api::Client;
use kith_node::jobs::JobKind;
use kith_node::{DataDir, ops};

use crate::backend::Backend;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(data_dir: &DataDir, _args: Args) -> Result<()> {
    let mut backend = Backend::connect(data_dir)?;
    let progress = match backend.is_running() {
        true => Client::discover(data_dir)?.map(watch_progress),
        false => {
            eprintln!("no node running: rebuilding in this process");
            None
        }
    };
    let report = backend.call(ops::Reindex {});
    if let Some((bar, done)) = progress {
        let _ = done.send(());
        bar.finish_and_clear();
    }
    let report = report?;
    println!("rebuilt views from {} entries", report.entries);
    Ok(())
}

/// Shows the node's reindex job as a progress bar until told to stop.
fn watch_progress(client: Client) -> (indicatif::ProgressBar, std::sync::mpsc::Sender<()>) {
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} entries  {msg}")
            .expect("valid template"),
    );
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let shown = bar.clone();
    std::thread::spawn(move || {
        while rx.recv_timeout(Duration::from_millis(250)).is_err() {
            let Ok(jobs) = client.call(ops::Jobs {}) else {
                return;
            };
            if let Some(job) = jobs.iter().find(|j| j.kind == JobKind::Reindex) {
                shown.set_length(job.total);
                shown.set_position(job.done);
                shown.set_message(job.phase.clone());
            }
        }
    });
    (bar, tx)
}
