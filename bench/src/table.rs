//! A small CSV reader: records with the line and column of every field, so that a
//! bad value is reported as `file:line:column`.

use anyhow::{Context, Result, bail};
use std::path::Path;

/// One field and the 1-based column (in characters) where it starts.
#[derive(Debug, Clone)]
pub struct Field {
    pub text: String,
    pub column: usize,
}

/// One record and its 1-based line number.
#[derive(Debug, Clone)]
pub struct Record {
    pub line: usize,
    pub fields: Vec<Field>,
}

/// Read a whole CSV file (RFC 4180 quoting, one record per line; blank lines skipped).
pub fn read_csv(path: &Path) -> Result<Vec<Record>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        out.push(Record {
            line: line_no,
            fields: split_line(line, path, line_no)?,
        });
    }
    Ok(out)
}

fn split_line(line: &str, path: &Path, line_no: usize) -> Result<Vec<Field>> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    let mut col = 1usize;
    loop {
        let start = col;
        let mut text = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            col += 1;
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        col += 2;
                        text.push('"');
                    }
                    Some('"') => {
                        col += 1;
                        break;
                    }
                    Some(c) => {
                        col += 1;
                        text.push(c);
                    }
                    None => bail!(
                        "{}:{line_no}:{start}: unterminated quoted field",
                        path.display()
                    ),
                }
            }
            match chars.peek() {
                None | Some(',') => {}
                Some(_) => bail!(
                    "{}:{line_no}:{col}: unexpected character after a quoted field",
                    path.display()
                ),
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                text.push(c);
                chars.next();
                col += 1;
            }
        }
        fields.push(Field {
            text,
            column: start,
        });
        match chars.next() {
            Some(_) => col += 1,
            None => return Ok(fields),
        }
    }
}

/// A field as a number; an empty field is a missing value (NaN).
pub fn number(field: &Field, path: &Path, line: usize) -> Result<f64> {
    let t = field.text.trim();
    if t.is_empty() {
        return Ok(f64::NAN);
    }
    t.parse::<f64>().with_context(|| {
        format!(
            "{}:{line}:{}: not a number: {t:?}",
            path.display(),
            field.column
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_and_columns() {
        let p = Path::new("x.csv");
        let f = split_line("a,\"b,c\",,d", p, 1).expect("valid line");
        let texts: Vec<&str> = f.iter().map(|f| f.text.as_str()).collect();
        assert_eq!(texts, ["a", "b,c", "", "d"]);
        assert_eq!(f[3].column, 10);
    }

    #[test]
    fn bad_number_names_file_line_and_column() {
        let p = Path::new("m.csv");
        let f = split_line("1,x2", p, 7).expect("valid line");
        let err = number(&f[1], p, 7).expect_err("not a number");
        assert!(
            format!("{err:#}").starts_with("m.csv:7:3: not a number"),
            "{err:#}"
        );
    }
}
