//! `charter-bench`: evaluation harnesses (being written).

fn main() {}
