//! JSON with comments (JSONC), as VS Code writes `mcp.json`: `//` and `/* */` comments outside
//! strings and trailing commas before `}` or `]` are blanked out before `serde_json` reads the
//! text. Each removed byte becomes a space (newlines stay), so the line and column of a syntax
//! error still point into the file the user wrote.

/// `text` with comments and trailing commas replaced by spaces, same length, same lines.
pub(crate) fn strip(text: &str) -> String {
    strip_trailing_commas(&strip_comments(text))
}

fn blank(out: &mut String, c: char) {
    if c == '\n' || c == '\r' {
        out.push(c);
    } else {
        out.extend(std::iter::repeat_n(' ', c.len_utf8()));
    }
}

fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match c {
                '\\' => {
                    if let Some(escaped) = chars.next() {
                        out.push(escaped);
                    }
                }
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match (c, chars.peek()) {
            ('"', _) => {
                in_string = true;
                out.push(c);
            }
            ('/', Some('/')) => {
                blank(&mut out, c);
                while let Some(&next) = chars.peek() {
                    if next == '\n' {
                        break;
                    }
                    blank(&mut out, next);
                    chars.next();
                }
            }
            ('/', Some('*')) => {
                blank(&mut out, c);
                if let Some(star) = chars.next() {
                    blank(&mut out, star);
                }
                let mut prev = '\0';
                // An unclosed comment blanks the rest; serde_json then reports the early end.
                for next in chars.by_ref() {
                    blank(&mut out, next);
                    if prev == '*' && next == '/' {
                        break;
                    }
                    prev = next;
                }
            }
            ('\u{feff}', _) if out.is_empty() => blank(&mut out, c),
            _ => out.push(c),
        }
    }
    out
}

fn strip_trailing_commas(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if in_string {
            out.push(c);
            if c == '\\' {
                if let Some(&escaped) = chars.get(i + 1) {
                    out.push(escaped);
                    i += 1;
                }
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if c == ',' {
            let next = chars[i + 1..].iter().find(|n| !n.is_whitespace());
            if matches!(next, Some('}') | Some(']')) {
                out.push(' ');
            } else {
                out.push(c);
            }
        } else {
            out.push(c);
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::strip;

    fn parses(text: &str) -> serde_json::Value {
        match serde_json::from_str(&strip(text)) {
            Ok(v) => v,
            Err(e) => panic!("{e}: {}", strip(text)),
        }
    }

    #[test]
    fn removes_line_and_block_comments() {
        let v = parses("// head\n{ /* a */ \"a\": 1, // tail\n \"b\": /* x\n y */ 2 }");
        assert_eq!(v, serde_json::json!({"a": 1, "b": 2}));
    }

    #[test]
    fn keeps_comment_markers_and_commas_inside_strings() {
        let v = parses(r#"{"u": "http://x//y", "c": "/* no */", "t": ",}", "q": "a\"//b",}"#);
        assert_eq!(
            v,
            serde_json::json!({"u": "http://x//y", "c": "/* no */", "t": ",}", "q": "a\"//b"})
        );
    }

    #[test]
    fn removes_trailing_commas_across_comments_and_lines() {
        let v = parses("{\"a\": [1, 2, ], \"b\": {\"c\": 3, // note\n },\n}");
        assert_eq!(v, serde_json::json!({"a": [1, 2], "b": {"c": 3}}));
    }

    #[test]
    fn keeps_length_and_lines() {
        let text = "{ // é comment\n \"a\": 1, /* ü\n */ }";
        let out = strip(text);
        assert_eq!(out.len(), text.len());
        assert_eq!(out.lines().count(), text.lines().count());
    }

    #[test]
    fn positions_of_syntax_errors_are_unchanged() {
        let text = "{\n  // c\n  \"a\": 1,\n  \"b\" 2\n}";
        let Err(e) = serde_json::from_str::<serde_json::Value>(&strip(text)) else {
            panic!("should fail");
        };
        assert_eq!((e.line(), e.column()), (4, 7));
    }

    #[test]
    fn strict_json_is_untouched() {
        let text = r#"{"a": [1, {"b": "c"}], "d": null}"#;
        assert_eq!(strip(text), text);
    }

    #[test]
    fn unclosed_block_comment_blanks_the_rest() {
        assert_eq!(strip("{} /* open"), format!("{{}}{}", " ".repeat(8)));
    }
}
