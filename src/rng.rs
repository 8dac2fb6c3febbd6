//! The process's cryptographic RNGs: the operating system's, via `getrandom`, for keys, KEKs and
//! sealing nonces; a per-thread CSPRNG seeded from it for the signing path.

/// An infallible handle on the OS RNG (panics only if the OS cannot supply randomness, when
/// nothing keyward does could be safe anyway).
pub(crate) fn os_rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}

/// The signing path's RNG: `rand`'s per-thread ChaCha12 generator, seeded from the OS and reseeded
/// after every 64 KiB of output, so a signature costs no syscall. It supplies `jti`s and the
/// RustCrypto backend's blinding; key material never comes from it.
pub(crate) fn thread_rng() -> rand::rngs::ThreadRng {
    rand::rng()
}
