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

/// Writes `contents` to `path` atomically: a temporary file beside it with `mode`, synced,
/// then renamed over `path`. A crash leaves either the old file or the new one.
pub(crate) fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), Error> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(mode);
        }
        let mut f = opts.open(&tmp)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(fs::Permissions::from_mode(mode))?;
        }
        f.write_all(contents)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::io(path, e)
    })
}
