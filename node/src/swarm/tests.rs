use super::*;

/// The peer-exchange vectors of PROTOCOL.md §8.3 are what this node
/// writes (one message's bytes; framed as sync messages are). On a
/// mismatch the message holds the block to paste.
#[test]
fn protocol_md_peer_exchange_vectors_match_the_code() {
    let me = Keypair::from_secret(&kith_protocol::vectors::seed()).author();
    let other = Keypair::from_secret(&kith_protocol::vectors::SUCCESSOR_SEED).author();
    let addr: libp2p::Multiaddr = "/ip4/192.0.2.1/tcp/4001".parse().unwrap();
    let request = PxRequest {
        authors: vec![me, other],
    };
    let response = PxResponse {
        peers: vec![(me, vec![serde_bytes::ByteBuf::from(addr.to_vec())])],
    };
    let block = format!(
        "request   {} (PxRequest: the vector key and the succession key of §10)\n\
         response  {} (PxResponse: the vector key at {addr})\n",
        hex::encode(postcard::to_stdvec(&request).unwrap()),
        hex::encode(postcard::to_stdvec(&response).unwrap()),
    );
    assert_eq!(
        crate::protocol_md_block("px-vectors"),
        block,
        "PROTOCOL.md §8.3 peer-exchange vectors are stale; the block:\n{block}"
    );
}

/// PROTOCOL.md §8's table of what a peer must speak says what this
/// node configures.
#[test]
fn protocol_md_states_the_wire_parameters_in_use() {
    let doc = include_str!("../../../docs/PROTOCOL.md");
    let table = doc
        .split("**What a peer must speak**")
        .nth(1)
        .and_then(|rest| rest.split("**Who talks to whom.**").next())
        .expect("the table in §8");
    let gossip = gossip_config(&Limits::default()).unwrap();
    let says = |text: &str| assert!(table.contains(text), "§8 should say {text:?}");
    says(&format!("`{IDENTIFY_PROTOCOL}`"));
    says(&format!("`{}`", sync::PROTOCOL_NAME));
    says(&format!("`{PX_PROTOCOL}`"));
    says(&format!("`{KAD_PROTOCOL}`"));
    says(&format!("frames ≤ {} KiB", PX_MAX_FRAME / 1024));
    says(&format!(
        "heartbeat {} ms",
        gossip.heartbeat_interval().as_millis()
    ));
    says(&format!(
        "mesh D = {}, D_low = {}, D_high = {}",
        gossip.mesh_n(),
        gossip.mesh_n_low(),
        gossip.mesh_n_high()
    ));
    says(&format!(
        "seen-message cache {} s",
        gossip.duplicate_cache_time().as_secs()
    ));
    says(&format!(
        "the requester gives up after {} s",
        SYNC_TIMEOUT.as_secs()
    ));
    says(&format!(
        "at most {SYNC_MAX_STREAMS} concurrent streams per connection"
    ));
    says(&format!("{} s timeout", PX_TIMEOUT.as_secs()));
    says(&format!("`{}`", kith_protocol::blob::PROTOCOL_NAME));
    let blob_frame = BlobCodec::for_slices().max_response;
    says(&format!(
        "frames ≤ {},{:03},{:03} bytes; {} s timeout; at most {BLOB_MAX_STREAMS} concurrent streams",
        blob_frame / 1_000_000,
        blob_frame / 1000 % 1000,
        blob_frame % 1000,
        BLOB_TIMEOUT.as_secs()
    ));
    let rpc = gossip.max_transmit_size();
    says(&format!(
        "at most {},{:03} bytes per RPC",
        rpc / 1000,
        rpc % 1000
    ));
    says(&format!(
        "closed after {} hour",
        IDLE_TIMEOUT.as_secs() / 3600
    ));
}

#[test]
fn peer_ids_and_authors_convert_both_ways() {
    let kp = Keypair::from_secret(&[5; 32]);
    let peer = peer_id(&kp.author());
    assert_eq!(peer, libp2p_keypair(&kp).public().to_peer_id());
    assert_eq!(author_of(&peer), Some(kp.author()));
    assert_eq!(author_of(&PeerId::random()), None);
}

#[test]
fn entries_travel_on_one_topic() {
    assert!(is_entries_topic(&topic().hash()));
    assert!(!is_entries_topic(
        &IdentTopic::new(format!(
            "kith/1/log/{}",
            Keypair::from_secret(&[5; 32]).author()
        ))
        .hash()
    ));
}

#[test]
fn oversized_frames_are_refused() {
    futures::executor::block_on(async {
        let mut codec = SyncCodec::new(8, 8);
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&100u32.to_be_bytes());
        bytes.extend_from_slice(&[0; 100]);
        let mut io = futures::io::Cursor::new(bytes);
        let proto = StreamProtocol::new(sync::PROTOCOL_NAME);
        let err = request_response::Codec::read_request(&mut codec, &proto, &mut io)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    });
}
