//! In-process Kith nodes on 127.0.0.1 for the multi-node tests: keys come
//! from fixed seeds, data dirs are temporary, mDNS is off, and waiting is
//! on node events with a timeout ([`WAIT`]).

use std::future::Future;
use std::time::Duration;

use kith_node::model::EntryView;
use kith_node::{Config, DataDir, Handle, Node, identity, ops};
use kith_protocol::{AuthorId, Head, Keypair};
use libp2p::Multiaddr;
use tokio::time::{Instant, timeout_at};

/// How long any single wait may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(60);

/// One node of a test network.
pub struct TestNode {
    pub name: &'static str,
    pub keypair: Keypair,
    pub dir: tempfile::TempDir,
    /// The head witness's directory, outside the data dir (as `kith up`
    /// keeps it): a data dir restored from a backup does not bring it back.
    pub state: tempfile::TempDir,
    node: Option<Node>,
    handle: Option<Handle>,
    config: Config,
}

impl TestNode {
    /// The node's configuration (to open its store with the node stopped,
    /// as a modified client would).
    pub fn config(&self) -> &Config {
        &self.config
    }
}

impl TestNode {
    /// Starts a node whose key comes from `seed`.
    pub async fn start(name: &'static str, seed: u8) -> TestNode {
        Self::start_with(name, seed, |_| {}).await
    }

    pub async fn start_with(
        name: &'static str,
        seed: u8,
        tweak: impl FnOnce(&mut Config),
    ) -> TestNode {
        Self::make(name, seed, tweak, None).await
    }

    /// Starts a node after `prepare` has worked on its store directly
    /// (to give it a long history without replicating it).
    pub async fn prepared(
        name: &'static str,
        seed: u8,
        tweak: impl FnOnce(&mut Config),
        prepare: impl FnOnce(&mut kith_node::Core),
    ) -> TestNode {
        Self::make(name, seed, tweak, Some(Box::new(prepare))).await
    }

    #[allow(clippy::type_complexity)]
    async fn make(
        name: &'static str,
        seed: u8,
        tweak: impl FnOnce(&mut Config),
        prepare: Option<Box<dyn FnOnce(&mut kith_node::Core) + '_>>,
    ) -> TestNode {
        // RUST_LOG=kith_node=debug shows what the nodes do.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let dir = tempfile::tempdir().unwrap();
        let data_dir = DataDir::new(dir.path());
        let keypair = identity::create_from_secret(&data_dir.identity(), &[seed; 32]).unwrap();
        let state = tempfile::tempdir().unwrap();
        let mut config = Config::new(data_dir);
        config.witness_dir = Some(state.path().to_path_buf());
        config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
        config.api = "127.0.0.1:0".parse().unwrap();
        config.mdns = false;
        // No periodic safety net in tests: every entry must arrive by gossip,
        // the connect-time exchange, gap backfill or announcements, or the
        // test times out.
        config.resync_interval = Duration::from_secs(3600);
        tweak(&mut config);
        if let Some(prepare) = prepare {
            let mut core = kith_node::Core::open(config.clone(), keypair.clone()).unwrap();
            prepare(&mut core);
            core.close().unwrap();
        }
        let mut node = TestNode {
            name,
            keypair,
            dir,
            state,
            node: None,
            handle: None,
            config,
        };
        node.restart().await;
        node
    }

    /// Starts the node again on the same data dir (after [`TestNode::stop`]).
    pub async fn restart(&mut self) {
        assert!(self.node.is_none(), "{} is already running", self.name);
        let node = Node::start(self.config.clone(), self.keypair.clone())
            .await
            .unwrap_or_else(|e| panic!("{} failed to start: {e}", self.name));
        self.handle = Some(node.handle());
        self.node = Some(node);
    }

    /// Starts the node again (after [`TestNode::stop`]) on a port it never
    /// had, as a laptop that moved to another network: the addresses its
    /// peers remember lead nowhere.
    pub async fn restart_elsewhere(&mut self) {
        let _ = std::fs::remove_file(self.config.data_dir.listen_ports());
        self.restart().await;
    }

    /// Stops the node gracefully, keeping its data dir.
    pub async fn stop(&mut self) {
        let node = self.node.take().expect("running");
        self.handle = None;
        node.shutdown().await.unwrap();
    }

    /// Links `device` to this node's person, as `kith device link` and
    /// `kith device join` do: a link code, the handshake, then the joined
    /// node records whose device it is.
    pub async fn link_device(&self, device: &TestNode, name: &str) {
        let code = self
            .handle()
            .call(ops::DeviceLinkCode {})
            .await
            .unwrap()
            .code;
        let parsed = kith_node::device_link::LinkCode::decode(&code).unwrap();
        kith_node::device_link::join(&parsed, &device.keypair, name, Duration::from_secs(30))
            .await
            .unwrap();
        device
            .handle()
            .call(ops::DeviceJoined { code })
            .await
            .unwrap();
    }

    /// Waits until the node asks to be restarted: it went on under a new
    /// log key (a restore it could not confirm).
    pub async fn restart_wanted(&self) {
        let node = self.node.as_ref().expect("running");
        tokio::time::timeout(WAIT, node.restart_wanted())
            .await
            .unwrap_or_else(|_| panic!("{} never asked to restart", self.name));
    }

    /// The key the node signs its log with now.
    pub async fn log_key(&self) -> AuthorId {
        self.handle().call(ops::Whoami {}).await.unwrap().author
    }

    pub fn handle(&self) -> &Handle {
        self.handle
            .as_ref()
            .unwrap_or_else(|| panic!("{} is stopped", self.name))
    }

    pub fn author(&self) -> AuthorId {
        self.keypair.author()
    }

    pub fn data_dir(&self) -> DataDir {
        self.config.data_dir.clone()
    }

    /// The web app's sign-in URL.
    pub fn web_url(&self) -> String {
        self.node.as_ref().expect("running").web_url()
    }

    /// The base URL of the API and web app.
    pub fn http_base(&self) -> String {
        format!("http://{}", self.node.as_ref().expect("running").api_addr())
    }

    /// A dialable address of this node.
    pub fn addr(&self) -> Multiaddr {
        self.node.as_ref().expect("running").listen_addrs()[0].clone()
    }

    pub async fn post(&self, text: &str) -> EntryView {
        self.handle().call(ops::Post::note(text)).await.unwrap()
    }

    pub async fn head(&self, author: AuthorId) -> Option<Head> {
        self.handle().reader().store().head(&author).unwrap()
    }

    pub async fn seq(&self, author: AuthorId) -> u64 {
        self.head(author).await.map_or(0, |h| h.seq)
    }

    /// Texts of the feed, newest first.
    pub async fn feed(&self, limit: usize) -> Vec<EntryView> {
        self.handle()
            .call(ops::Feed {
                limit: Some(limit),
                ..Default::default()
            })
            .await
            .unwrap()
    }

    /// Trusts `other` (no petname).
    pub async fn trust(&self, other: &TestNode) {
        self.handle()
            .call(ops::TrustAdd {
                author: other.author().into(),
                petname: None,
            })
            .await
            .unwrap();
    }

    /// Dials `other`'s address.
    pub async fn dial(&self, other: &TestNode) {
        self.handle()
            .call(ops::Dial {
                addr: other.addr().to_string(),
            })
            .await
            .unwrap();
    }

    /// Waits until this node holds `author`'s log up to at least `seq`.
    pub async fn wait_for_seq(&self, author: AuthorId, seq: u64) {
        let name = self.name;
        wait_until(
            self.handle(),
            || async move { self.seq(author).await >= seq },
            || async move {
                format!(
                    "{name} has {} of {author}'s entries, wanted {seq}",
                    self.seq(author).await
                )
            },
        )
        .await;
    }

    /// Waits until `other` is connected.
    pub async fn wait_connected(&self, other: &TestNode) {
        let author = other.author();
        let name = self.name;
        wait_until(
            self.handle(),
            || async move { self.is_connected(author).await },
            || async move { format!("{name} never connected to {author}") },
        )
        .await;
    }

    pub async fn is_connected(&self, author: AuthorId) -> bool {
        self.handle()
            .call(ops::Peers {})
            .await
            .unwrap()
            .iter()
            .any(|p| p.author == author && p.connected)
    }
}

impl TestNode {
    /// Waits until `check` (given this node's handle) holds, failing with
    /// `what` after [`WAIT`].
    pub async fn wait_for<F, Fut>(&self, what: &str, check: F)
    where
        F: Fn(Handle) -> Fut,
        Fut: Future<Output = bool>,
    {
        let handle = self.handle().clone();
        wait_until(
            self.handle(),
            || check(handle.clone()),
            || async { what.to_string() },
        )
        .await;
    }

    /// Waits until this node resolves `person`'s identity key to
    /// `identity` (it followed a rotation or a recovery).
    pub async fn wait_identity(&self, person: AuthorId, identity: AuthorId) {
        let what = format!(
            "{} never saw {person}'s identity become {identity}",
            self.name
        );
        self.wait_for(&what, |h| async move {
            h.call(ops::Devices {
                of: Some(person.into()),
            })
            .await
            .is_ok_and(|p| p.identity == identity)
        })
        .await;
    }
}

/// Trust both ways, then dial.
pub async fn connect(a: &TestNode, b: &TestNode) {
    a.trust(b).await;
    b.trust(a).await;
    a.dial(b).await;
    a.wait_connected(b).await;
    b.wait_connected(a).await;
}

/// Re-checks `done` whenever the node reports an event (and at least every
/// 250 ms), failing with `describe` after [`WAIT`].
pub async fn wait_until<F, Fut, D, DFut>(handle: &Handle, mut done: F, describe: D)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
    D: FnOnce() -> DFut,
    DFut: Future<Output = String>,
{
    let mut events = handle.subscribe();
    let deadline = Instant::now() + WAIT;
    loop {
        if done().await {
            return;
        }
        let next = async {
            tokio::select! {
                _ = events.recv() => {}
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
        };
        if timeout_at(deadline, next).await.is_err() {
            panic!("timed out: {}", describe().await);
        }
    }
}
