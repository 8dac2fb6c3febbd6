//! File helpers: reading inputs with the path in the error, and atomic writes of secrets.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::Error;

/// Mode of files holding private keys or tokens.
pub(crate) const SECRET_FILE_MODE: u32 = 0o600;
/// Mode of files holding public material.
pub(crate) const PUBLIC_FILE_MODE: u32 = 0o644;

/// Inputs larger than this are refused (keys, certificates, JWKS and tokens are small).
const MAX_INPUT: u64 = 1 << 20;

/// Reads a UTF-8 text file of at most 1 MiB.
pub(crate) fn read_text(path: &Path) -> Result<String, Error> {
    let meta = fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.len() > MAX_INPUT {
        return Err(Error::io(path, std::io::Error::other("file larger than 1 MiB")));
    }
    let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
    String::from_utf8(bytes).map_err(|_| Error::io(path, std::io::Error::other("not UTF-8 text")))
}

/// Writes `contents` to `path` atomically: a temporary file beside it, created exclusively under
/// a random name (O_CREAT|O_EXCL, so neither a planted file nor a symlink is followed) with
/// `mode`, written, synced, renamed over `path`, and the directory synced. A crash leaves either
/// the old file or the new one.
pub(crate) fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), Error> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let result = (|| {
        let prefix = format!(".{name}.");
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".tmp");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(fs::Permissions::from_mode(mode));
        }
        #[cfg(not(unix))]
        let _ = mode;
        let mut tmp = builder.tempfile_in(dir)?;
        tmp.write_all(contents)?;
        tmp.as_file().sync_all()?;
        // On failure the temporary file is removed when `persist`'s error drops it.
        tmp.persist(path).map_err(|e| e.error)?;
        if let Ok(d) = fs::File::open(dir) {
            d.sync_all()?;
        }
        Ok::<(), std::io::Error>(())
    })();
    result.map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_writes_are_private_and_follow_no_planted_link() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kek");
        let victim = dir.path().join("victim");
        fs::write(&victim, b"untouched").unwrap();
        // What the old predictable temporary name would have been, planted as a symlink.
        #[cfg(unix)]
        std::os::unix::fs::symlink(&victim, dir.path().join(format!(".kek.tmp-{}", std::process::id()))).unwrap();
        write_atomic(&path, b"first", 0o600).unwrap();
        write_atomic(&path, b"second", 0o600).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        assert_eq!(fs::read(&victim).unwrap(), b"untouched");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let left: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(left.is_empty(), "temporary files left: {left:?}");
    }
}
