//! The field splitter of AudioSet's metadata (the segment lists, `class_labels_indices.csv`): comma
//! separated, double-quoted fields may hold commas, `""` is an escaped quote, whitespace around
//! unquoted fields is trimmed. Google's lists put a space after each comma, also before a quoted
//! label list (`--PJHxphWEs, 30.000, 40.000, "/m/09x0r,/t/dd00088"`), which the `csv` crate reads
//! as an unquoted field and splits at the inner comma (BurntSushi/rust-csv#337, closed wontfix),
//! as Python's `csv` does without `skipinitialspace=True`. Every other table goes through the
//! `csv` crate (`datasets.rs`).

/// Splits one line into fields; `Err` explains an unterminated quote.
pub(crate) fn split(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut in_quotes = false;
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (c, in_quotes) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', true) => in_quotes = false,
            ('"', false) if cur.trim().is_empty() => {
                cur.clear();
                in_quotes = true;
                quoted = true;
            }
            (',', false) => {
                fields.push(if quoted {
                    std::mem::take(&mut cur)
                } else {
                    cur.trim().to_string()
                });
                cur.clear();
                quoted = false;
            }
            (c, _) => {
                if !(quoted && !in_quotes && c.is_whitespace()) {
                    cur.push(c);
                }
            }
        }
    }
    if in_quotes {
        return Err("unterminated quoted field".into());
    }
    fields.push(if quoted { cur } else { cur.trim().to_string() });
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn quotes_commas_and_spaces() {
        assert_eq!(
            split(r#"--PJHxphWEs, 30.000, 40.000, "/m/09x0r,/t/dd00088""#).unwrap(),
            vec!["--PJHxphWEs", "30.000", "40.000", "/m/09x0r,/t/dd00088"]
        );
        assert_eq!(
            split(r#"1,/m/05zppz,"Male speech, man speaking""#).unwrap()[2],
            "Male speech, man speaking"
        );
        assert_eq!(
            split(r#"a,"say ""hi""",b"#).unwrap(),
            vec!["a", "say \"hi\"", "b"]
        );
        assert!(split(r#"a,"open"#).is_err());
    }
}
