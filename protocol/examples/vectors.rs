//! Prints the test vectors of docs/PROTOCOL.md.
fn main() {
    print!("{}", kith_protocol::vectors::markdown());
}
