//! A small CSV reader for recorded metrics: every field keeps its line and column,
//! so that a bad value is reported as `file:line:column`. RFC 4180 quoting, one
//! record per line, blank lines skipped, a leading byte-order mark ignored.

/// One field and the 1-based column (in characters) where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub text: String,
    pub column: usize,
}

/// One record and its 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub line: usize,
    pub fields: Vec<Field>,
}

/// A malformed line, as `file:line:column: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct CsvError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// The records of CSV `text`; `file` names it in errors.
pub fn parse_csv(text: &str, file: &str) -> Result<Vec<Record>, CsvError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        // A byte-order mark (spreadsheet exports) is not part of the first name.
        let line = if i == 0 {
            line.strip_prefix('\u{feff}').unwrap_or(line)
        } else {
            line
        };
        if line.trim().is_empty() {
            continue;
        }
        out.push(Record {
            line: i + 1,
            fields: split_line(line, file, i + 1)?,
        });
    }
    Ok(out)
}

/// The fields of one line.
pub fn split_line(line: &str, file: &str, line_no: usize) -> Result<Vec<Field>, CsvError> {
    let error = |column: usize, message: &str| CsvError {
        file: file.to_string(),
        line: line_no,
        column,
        message: message.to_string(),
    };
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
                    None => return Err(error(start, "unterminated quoted field")),
                }
            }
            if !matches!(chars.peek(), None | Some(',')) {
                return Err(error(col, "unexpected character after a quoted field"));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_and_columns() {
        let f = split_line("a,\"b,c\",,d", "x.csv", 1).expect("valid line");
        let texts: Vec<&str> = f.iter().map(|f| f.text.as_str()).collect();
        assert_eq!(texts, ["a", "b,c", "", "d"]);
        assert_eq!(f[3].column, 10);
        let q = split_line("\"say \"\"hi\"\"\",2", "x.csv", 1).expect("valid line");
        assert_eq!(q[0].text, "say \"hi\"");
    }

    #[test]
    fn malformed_lines_name_file_line_and_column() {
        let e = split_line("1,\"open", "m.csv", 7).expect_err("unterminated");
        assert_eq!(e.to_string(), "m.csv:7:3: unterminated quoted field");
        let e = split_line("\"a\"b", "m.csv", 2).expect_err("junk after quote");
        assert_eq!(
            e.to_string(),
            "m.csv:2:4: unexpected character after a quoted field"
        );
    }

    #[test]
    fn blank_lines_and_a_byte_order_mark_are_skipped() {
        let r = parse_csv("\u{feff}time,a\r\n\n1,2\n", "m.csv").expect("valid");
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].fields[0].text, "time");
        assert_eq!(r[1].line, 3);
    }
}
