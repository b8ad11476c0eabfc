//! Bearer tokens kept in files (never in the charter itself).

use std::path::{Path, PathBuf};

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
}

/// Read a bearer token from a file, without surrounding whitespace; an empty file is
/// an error rather than an empty token.
pub fn read_token_file(path: impl AsRef<Path>) -> Result<String, TokenFileError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|source| TokenFileError::Read {
        path: path.to_path_buf(),
        source,
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
}
