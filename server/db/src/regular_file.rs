//! Reading a file we are given by path (a journal, a migration, a SQL file) without trusting
//! it: only a regular file (a symlink to `/dev/zero` or a FIFO would be read forever or hang),
//! and never more than a limit (a file that grows while we read it included).

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("does not exist")]
    NotFound(#[source] io::Error),
    #[error("is not a regular file but {kind}; point it at a plain file")]
    NotRegular { kind: &'static str },
    #[error("is larger than {limit} bytes, more than any {what} should be; check that it is the right file")]
    TooLarge { limit: u64, what: &'static str },
    #[error("cannot be read: {0}")]
    Io(#[source] io::Error),
}

/// The whole of `path` when it is a regular file (symlinks followed) of at most `limit` bytes.
pub fn read_regular(path: &Path, limit: u64, what: &'static str) -> Result<Vec<u8>, ReadError> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => ReadError::NotFound(e),
        _ => ReadError::Io(e),
    })?;
    if let Some(kind) = special_kind(&meta) {
        return Err(ReadError::NotRegular { kind });
    }
    if meta.len() > limit {
        return Err(ReadError::TooLarge { limit, what });
    }
    let file = File::open(path).map_err(ReadError::Io)?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limit + 1).read_to_end(&mut bytes).map_err(ReadError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge { limit, what });
    }
    Ok(bytes)
}

/// What a path that is not a regular file is, in words (`None` for a regular file).
pub fn special_kind(meta: &std::fs::Metadata) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    Some(if t.is_file() {
        return None;
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "a special file"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_devices_fifos_folders_and_big_files() {
        let dir = tempfile::tempdir().unwrap();
        let zero = dir.path().join("zero.sql");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        assert!(matches!(read_regular(&zero, 10, "x"), Err(ReadError::NotRegular { kind: "a character device" })));
        let fifo = dir.path().join("fifo.sql");
        let status = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(status.success());
        assert!(matches!(read_regular(&fifo, 10, "x"), Err(ReadError::NotRegular { kind: "a FIFO (named pipe)" })));
        assert!(matches!(read_regular(dir.path(), 10, "x"), Err(ReadError::NotRegular { kind: "a directory" })));
        let big = dir.path().join("big.sql");
        std::fs::write(&big, vec![b'x'; 11]).unwrap();
        let err = read_regular(&big, 10, "migration").unwrap_err();
        assert!(err.to_string().contains("larger than 10 bytes, more than any migration"), "{err}");
        assert_eq!(read_regular(&big, 11, "x").unwrap().len(), 11);
        assert!(matches!(read_regular(&dir.path().join("nope"), 10, "x"), Err(ReadError::NotFound(_))));
    }
}
