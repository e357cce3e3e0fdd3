//! Web app latency: time to first byte and to the full page, for the feed
//! with 10,000 entries in the store and for the largest wiki page (the
//! 104,852-character paper of the editing trace), each against the JSON API
//! serving the same data in the same run. Prints figures; run with
//!
//! ```sh
//! cargo bench -p kith-tests --bench web
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use kith_node::ops;
use kith_protocol::PostKind;
use kith_testkit::TestNode;

const ENTRIES: usize = 10_000;
const RUNS: usize = 200;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

struct Timing {
    ttfb: (Duration, Duration),
    full: (Duration, Duration),
    bytes: usize,
}

fn measure(agent: &ureq::Agent, url: &str, headers: &[(&str, &str)]) -> Timing {
    let mut ttfb = Vec::new();
    let mut full = Vec::new();
    let mut bytes = 0;
    for _ in 0..RUNS {
        let t = Instant::now();
        let mut req = agent.get(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut response = req.call().unwrap();
        assert_eq!(response.status(), 200, "{url}");
        ttfb.push(t.elapsed());
        let body = response
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_vec()
            .unwrap();
        full.push(t.elapsed());
        bytes = body.len();
    }
    ttfb.sort();
    full.sort();
    Timing {
        ttfb: (percentile(&ttfb, 0.5), percentile(&ttfb, 0.99)),
        full: (percentile(&full, 0.5), percentile(&full, 0.99)),
        bytes,
    }
}

/// Walks the feed page by page through its "Older posts" links: every
/// request renders 50 entries never rendered before (nothing cached).
fn measure_cold_pages(agent: &ureq::Agent, base: &str, cookie: &str) -> Timing {
    let mut ttfb = Vec::new();
    let mut full = Vec::new();
    let mut bytes = 0;
    let mut path = "/".to_string();
    for _ in 0..RUNS - 1 {
        let t = Instant::now();
        let mut response = agent
            .get(&format!("{base}{path}"))
            .header("Cookie", cookie)
            .call()
            .unwrap();
        ttfb.push(t.elapsed());
        let body = response.body_mut().read_to_string().unwrap();
        full.push(t.elapsed());
        bytes = body.len();
        let marker = "class=\"pager\"><a href=\"";
        let start = body.find(marker).expect("an older page") + marker.len();
        path = body[start..start + body[start..].find('"').unwrap()].replace("&amp;", "&");
    }
    ttfb.sort();
    full.sort();
    Timing {
        ttfb: (percentile(&ttfb, 0.5), percentile(&ttfb, 0.99)),
        full: (percentile(&full, 0.5), percentile(&full, 0.99)),
        bytes,
    }
}

fn print(name: &str, t: &Timing, base: &Timing) {
    println!(
        "{name:<34} TTFB p50 {:>9.2?} p99 {:>9.2?} | full p50 {:>9.2?} p99 {:>9.2?} | {:>8} bytes | full p50 ratio {:.2}",
        t.ttfb.0,
        t.ttfb.1,
        t.full.0,
        t.full.1,
        t.bytes,
        t.full.0.as_secs_f64() / base.full.0.as_secs_f64()
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let node = runtime.block_on(async {
        let node = TestNode::start("bench", 1).await;
        let mut tasks = Vec::new();
        for i in 0..ENTRIES {
            let h = node.handle().clone();
            tasks.push(tokio::spawn(async move {
                h.call(ops::Post {
                    circle: None,
                    text: format!("Note {i}: working on **the web UI** and [[Runbook]] today, see https://example.org/{i}"),
                    kind: PostKind::Note,
                    reply_to: None,
                    tags: vec!["bench".into()],
                    files: Vec::new(),
                })
                .await
                .unwrap()
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        node.handle()
            .call(ops::WikiNew { title: "Paper".into(), body: kith_testkit::corpus::paper_text(), circle: None })
            .await
            .unwrap();
        node
    });
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .max_redirects(0)
        .build()
        .into();
    let login = agent.get(&node.web_url()).call().unwrap();
    let cookie = login
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let token = std::fs::read_to_string(node.data_dir().api_token()).unwrap();
    let bearer = format!("Bearer {}", token.trim());
    let base = node.http_base();

    let api_feed = measure(
        &agent,
        &format!("{base}/api/v1/feed?limit=50"),
        &[("Authorization", &bearer)],
    );
    // First the pages never rendered, then the first page again and again.
    let web_feed_cold = measure_cold_pages(&agent, &base, &cookie);
    let web_feed = measure(&agent, &format!("{base}/"), &[("Cookie", &cookie)]);
    let api_page = measure(
        &agent,
        &format!("{base}/api/v1/wiki/Paper"),
        &[("Authorization", &bearer)],
    );
    let id = runtime
        .block_on(node.handle().call(ops::WikiShow {
            page: "Paper".into(),
        }))
        .unwrap()
        .id;
    let web_page_direct = measure(&agent, &format!("{base}/wiki/{id}"), &[("Cookie", &cookie)]);

    println!(
        "## web app, {ENTRIES} entries in the store, {RUNS} requests each (loopback, one client)"
    );
    print("JSON API feed, 50 entries (baseline)", &api_feed, &api_feed);
    print("web feed page, 50 entries", &web_feed, &api_feed);
    print("web feed, 199 pages never shown", &web_feed_cold, &api_feed);
    print("JSON API wiki page (baseline)", &api_page, &api_page);
    print("web wiki page, 104,852 chars", &web_page_direct, &api_page);
    // Full render in a real browser, when Chromium and playwright-core are installed.
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/e2e/render-timing.mjs");
    let output = std::process::Command::new("node")
        .arg(script)
        .arg(node.web_url())
        .arg("/")
        .arg(format!("/wiki/{id}"))
        .output();
    match output {
        Ok(out) if out.status.success() => {
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            println!("## full render in headless Chromium (median of 20 loads, ms)");
            for (path, name) in [
                ("/".to_string(), "feed page"),
                (format!("/wiki/{id}"), "wiki page"),
            ] {
                let t = &v[&path];
                println!(
                    "{name:<10} TTFB {:>6.1}  DOMContentLoaded {:>6.1}  load {:>6.1}",
                    t["ttfb_ms"].as_f64().unwrap_or(f64::NAN),
                    t["dom_content_loaded_ms"].as_f64().unwrap_or(f64::NAN),
                    t["load_ms"].as_f64().unwrap_or(f64::NAN)
                );
            }
        }
        _ => println!(
            "(browser timings skipped: needs node and tests/e2e/node_modules, `npm ci --prefix tests/e2e`)"
        ),
    }
    runtime.block_on(async move {
        let mut node = node;
        node.stop().await;
    });
}
