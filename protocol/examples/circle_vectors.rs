//! Prints the private-circle test vectors of docs/PROTOCOL.md §12 (with
//! `json`: the contested membership cases as JSON).
fn main() {
    if std::env::args().nth(1).as_deref() == Some("json") {
        print!("{}", kith_protocol::circle::vectors::cases_json());
    } else {
        print!("{}", kith_protocol::circle::vectors::markdown());
    }
}
