//! Reading a text file someone else names, bounded: only a regular file is opened (a
//! FIFO would block, a device never end), and at most a given number of bytes is read.

use std::io::{Error, ErrorKind, Read};
use std::path::Path;

/// The text of `path`: a regular file (checked before opening, since opening a FIFO
/// blocks, and again on what was opened) of at most `max_bytes`, in UTF-8.
pub fn read_text_bounded(path: &Path, max_bytes: u64) -> std::io::Result<String> {
    if !std::fs::metadata(path)?.is_file() {
        return Err(Error::new(ErrorKind::InvalidInput, "not a regular file"));
    }
    let file = std::fs::File::open(path)?;
    if !file.metadata()?.is_file() {
        return Err(Error::new(ErrorKind::InvalidInput, "not a regular file"));
    }
    let mut bytes = Vec::new();
    file.take(max_bytes + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max_bytes {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("larger than {max_bytes} bytes"),
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        Error::new(
            ErrorKind::InvalidData,
            format!(
                "not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}
