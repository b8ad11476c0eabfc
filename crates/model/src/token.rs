//! Bearer tokens kept in files (never in the charter itself).

use std::io::Read;
use std::path::{Path, PathBuf};

/// The largest token file read, in bytes: a token is a line, and a file that is
/// larger (or endless, like `/dev/zero`) is refused instead of read into memory.
pub const MAX_TOKEN_FILE_BYTES: u64 = 64 * 1024;

/// A token file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    #[error("cannot read token file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("token file {} is empty", path.display())]
    Empty { path: PathBuf },
    #[error(
        "token file {} is not a regular file (a pipe, device or directory would block \
         or never end); name a file holding the token",
        path.display()
    )]
    NotRegular { path: PathBuf },
    #[error(
        "token file {} is larger than {MAX_TOKEN_FILE_BYTES} bytes; a token file holds one token",
        path.display()
    )]
    TooLarge { path: PathBuf },
    #[error("token file {} is not UTF-8 text", path.display())]
    NotText { path: PathBuf },
}

/// Read a bearer token from a file, without surrounding whitespace; an empty file is
/// an error rather than an empty token. Only a regular file is opened (checked before
/// opening, since opening a FIFO blocks until a writer comes), and at most
/// [`MAX_TOKEN_FILE_BYTES`] are read.
pub fn read_token_file(path: impl AsRef<Path>) -> Result<String, TokenFileError> {
    let path = path.as_ref();
    let read_err = |source| TokenFileError::Read {
        path: path.to_path_buf(),
        source,
    };
    let not_regular = || TokenFileError::NotRegular {
        path: path.to_path_buf(),
    };
    if !std::fs::metadata(path).map_err(read_err)?.is_file() {
        return Err(not_regular());
    }
    let file = std::fs::File::open(path).map_err(read_err)?;
    // The path may have been replaced between the two looks; judge what was opened.
    if !file.metadata().map_err(read_err)?.is_file() {
        return Err(not_regular());
    }
    let mut bytes = Vec::new();
    file.take(MAX_TOKEN_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > MAX_TOKEN_FILE_BYTES {
        return Err(TokenFileError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    let text = String::from_utf8(bytes).map_err(|_| TokenFileError::NotText {
        path: path.to_path_buf(),
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(TokenFileError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(token.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_trimmed_and_empty_files_refused() {
        let dir = std::env::temp_dir().join(format!("charter-token-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("token");
        std::fs::write(&file, "  s3cret\n").expect("write");
        assert_eq!(read_token_file(&file).expect("read"), "s3cret");
        std::fs::write(&file, "\n \n").expect("write");
        assert!(matches!(
            read_token_file(&file),
            Err(TokenFileError::Empty { .. })
        ));
        let missing = dir.join("missing");
        let e = read_token_file(&missing).expect_err("missing");
        assert!(
            e.to_string().contains(&missing.display().to_string()),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Issue 16 item 15: `/dev/zero` was read to 1.8 GB and a FIFO hung the start.
    /// Both are refused at once, and so is a file past the size limit.
    #[test]
    fn only_small_regular_files_are_read() {
        let dir = std::env::temp_dir().join(format!("charter-token-bounds-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let e = read_token_file("/dev/zero").expect_err("a device");
        assert!(matches!(e, TokenFileError::NotRegular { .. }), "{e}");
        assert!(e.to_string().contains("/dev/zero"), "{e}");
        let e = read_token_file(&dir).expect_err("a directory");
        assert!(matches!(e, TokenFileError::NotRegular { .. }), "{e}");
        let fifo = dir.join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            // Without the check, this open blocks forever (no writer ever comes).
            let (tx, rx) = std::sync::mpsc::channel();
            let f = fifo.clone();
            std::thread::spawn(move || {
                let _ = tx.send(read_token_file(&f).map_err(|e| e.to_string()));
            });
            let got = rx
                .recv_timeout(std::time::Duration::from_secs(5))
                .expect("reading a FIFO token file returned within 5 s");
            assert!(got.expect_err("a FIFO").contains("not a regular file"));
        }
        let big = dir.join("big");
        std::fs::write(&big, vec![b'a'; MAX_TOKEN_FILE_BYTES as usize + 1]).expect("write");
        let e = read_token_file(&big).expect_err("too large");
        assert!(matches!(e, TokenFileError::TooLarge { .. }), "{e}");
        let fits = dir.join("fits");
        std::fs::write(&fits, vec![b'a'; MAX_TOKEN_FILE_BYTES as usize]).expect("write");
        assert_eq!(
            read_token_file(&fits).expect("at the limit").len(),
            MAX_TOKEN_FILE_BYTES as usize
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
