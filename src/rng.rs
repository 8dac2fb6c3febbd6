//! The process's cryptographic RNG: the operating system's, via `getrandom`.

/// An infallible handle on the OS RNG (panics only if the OS cannot supply randomness, when
/// nothing keyward does could be safe anyway).
pub(crate) fn os_rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}
