//! PostgreSQL's password file (`~/.pgpass`, or `$PGPASSFILE`), read as libpq reads it: lines of
//! `hostname:port:database:username:password`, `*` matching anything in the first four
//! fields, `\:` and `\\` escaping, `#` starting a comment, the first matching line winning;
//! a file that its group or others may read is ignored.

use std::path::Path;

/// What a connection is to: the fields a line is matched against.
pub(crate) struct Target<'a> {
    pub host: &'a str,
    pub port: u16,
    pub database: &'a str,
    pub user: &'a str,
}

/// The password the first matching line holds.
pub(crate) fn lookup(contents: &str, target: &Target<'_>) -> Option<String> {
    let port = target.port.to_string();
    let wanted = [target.host, port.as_str(), target.database, target.user];
    contents
        .lines()
        // A file written on Windows: libpq drops the carriage return too.
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
        .filter(|line| !line.starts_with('#'))
        .filter_map(split_fields)
        .find(|fields| {
            fields[..4]
                .iter()
                .zip(wanted)
                .all(|(field, want)| field == "*" || field == want)
        })
        .map(|mut fields| fields.swap_remove(4))
}

/// The five fields of a line, unescaped; `None` for a line with fewer.
fn split_fields(line: &str) -> Option<Vec<String>> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    fields.last_mut()?.push(next);
                }
            }
            // The password is the rest of the line, colons and all.
            ':' if fields.len() < 5 => fields.push(String::new()),
            _ => fields.last_mut()?.push(c),
        }
    }
    (fields.len() == 5).then_some(fields)
}

/// Reads the file at `path` and looks `target` up. A missing file is no password; a file
/// others may read is refused as libpq refuses it (the error says why).
pub(crate) fn read(path: &Path, target: &Target<'_>) -> Result<Option<String>, String> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(format!(
                "password file {} has group or world access (mode {:o}): it is ignored until \
                 `chmod 0600` (as libpq does)",
                path.display(),
                mode & 0o777
            ));
        }
    }
    if !meta.is_file() {
        return Err(format!("password file {} is not a file", path.display()));
    }
    let contents = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(lookup(&contents, target))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TARGET: Target<'static> = Target {
        host: "db.example",
        port: 5432,
        database: "runs",
        user: "waymark",
    };

    #[test]
    fn the_first_matching_line_wins_and_stars_match_anything() {
        let file = "# team database\n\
                    other.host:5432:runs:waymark:not-this\n\
                    db.example:5432:runs:waymark:first\n\
                    *:*:*:*:second\n";
        assert_eq!(lookup(file, &TARGET).as_deref(), Some("first"));
        let file = "db.example:6543:runs:waymark:wrong-port\n*:5432:*:waymark:star\n";
        assert_eq!(lookup(file, &TARGET).as_deref(), Some("star"));
        assert_eq!(lookup("db.example:5432:runs:someone:x\n", &TARGET), None);
    }

    #[test]
    fn escapes_comments_and_short_lines() {
        // An escaped colon in a field, an escaped backslash, colons in the password.
        let file = "#db.example:5432:runs:waymark:commented\n\
                    db.example:5432:runs:waymark\n\
                    db.example:5432:ru\\:ns:waymark:no\n\
                    db.example:5432:runs:waymark:p\\\\w:with:colons\n";
        assert_eq!(lookup(file, &TARGET).as_deref(), Some("p\\w:with:colons"));
        let colon_db = Target {
            database: "ru:ns",
            ..TARGET
        };
        assert_eq!(lookup(file, &colon_db).as_deref(), Some("no"));
        assert_eq!(lookup("", &TARGET), None);
        // CRLF line ends, a NUL in a field, thousands of lines before the match.
        let mut big = "x:1:y:z:w\r\n".repeat(5000);
        big.push_str("db.example:5432:runs:wa\0ymark:nul\r\n*:*:*:*:last\r\n");
        assert_eq!(lookup(&big, &TARGET).as_deref(), Some("last"));
        assert_eq!(lookup("::::", &TARGET), None);
    }

    #[test]
    fn a_file_others_can_read_is_refused_and_a_missing_one_is_no_password() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("pgpass");
        assert_eq!(read(&path, &TARGET), Ok(None));
        std::fs::write(&path, "*:*:*:*:secret\n").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = read(&path, &TARGET).expect_err("refused");
        assert!(err.contains("0600") && !err.contains("secret"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert_eq!(read(&path, &TARGET), Ok(Some("secret".into())));
    }
}
