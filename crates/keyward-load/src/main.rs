//! keyward-load: drives a running keyward over real gRPC (placeholder; being written).

fn main() {}
