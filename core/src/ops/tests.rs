#![allow(clippy::unwrap_used)]

#[test]
fn the_api_documentation_lists_every_operation() {
    let doc = include_str!("../../../docs/API.md");
    for info in super::all() {
        let row = format!(
            "| `{}` | `/api/v1{}` | `{}` |",
            info.method.as_str(),
            info.path,
            info.name
        );
        assert!(doc.contains(&row), "docs/API.md lacks {row}");
    }
}

#[test]
fn status_says_what_to_do_behind_a_nat_with_no_relaying_friend() {
    use crate::model::Reachability;
    use crate::ops::NetOp;
    let mut core = crate::testing::core(1);
    let mut st = super::Status {}.offline(&mut core).unwrap();
    assert_eq!(st.relay_limits, crate::config::RelayLimits::default());
    assert_eq!(st.nat_hint(), None, "no node runs");
    st.running = true;
    st.reachability = Reachability::Unknown;
    assert_eq!(st.nat_hint(), None, "not known to be behind a NAT");
    st.reachability = Reachability::Private;
    let hint = st.nat_hint().expect("private, and no relay slot anywhere");
    assert!(hint.contains("join your invite code"), "{hint}");
    st.relays.push(core.me());
    assert_eq!(st.nat_hint(), None, "a friend relays for us");
}
