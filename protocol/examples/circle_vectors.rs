//! Prints the private-circle test vectors of docs/PROTOCOL.md §12.
fn main() {
    print!("{}", kith_protocol::circle::vectors::markdown());
}
