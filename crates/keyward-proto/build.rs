//! Build script: compiles the gRPC contract under the workspace's `proto/` with protox, a
//! protobuf compiler written in Rust, so building needs no system `protoc`. Also writes the file
//! descriptor set that server reflection serves.

use std::path::PathBuf;

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    println!("cargo:rerun-if-changed={}", proto.display());
    let files = [
        "keyward/v1/rotation.proto",
        "keyward/v1/plan.proto",
        "keyward/v1/signing_keys.proto",
        "keyward/v1/inventory.proto",
        "keyward/v1/signing.proto",
    ];
    let fds = protox::compile(files, [&proto])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("keyward_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure().build_server(true).build_client(true).compile_fds(fds)?;
    Ok(())
}
