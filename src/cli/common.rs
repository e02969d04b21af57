//! What every command shares: the exit codes, the usage-error line, positive-seconds
//! flags, and telling a closed stdout from a failure.

/// Exit code when every input succeeded.
pub(crate) const EXIT_OK: u8 = 0;
/// Exit code for a usage error: bad flags or a combination that cannot work.
pub(crate) const EXIT_USAGE: u8 = 1;
/// Exit code when at least one input failed.
pub(crate) const EXIT_FAILED: u8 = 2;

/// Parses a flag in seconds: more than 0 and at most a day, so a typo cannot mean "never".
pub(crate) fn parse_timeout(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("'{s}' is not a number"))?;
    if !v.is_finite() || v <= 0.0 || v > 86_400.0 {
        return Err(format!("'{s}' must be more than 0 and at most 86400"));
    }
    Ok(v)
}

/// Whether `e` is a closed stdout: a reader that stopped early (`| head`) is no failure.
pub(crate) fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// `line` with every control character and every invisible format character (bidi
/// overrides, zero-width marks, line separators) written as an escape (`\n`, `\r`, `\t`,
/// `\u{1b}`), so that a printed line stays one line and shows what its bytes say.
pub(crate) fn escape_controls(line: &str) -> std::borrow::Cow<'_, str> {
    let bad = |c: char| c.is_control() || mmprompt::doc::text::is_invisible_format(c);
    if !line.chars().any(bad) {
        return std::borrow::Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len() + 8);
    for c in line.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if bad(c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Writes one line to stderr with [`escape_controls`] applied; see the `say!` macro.
pub(crate) fn say_line(line: &str) {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{}", escape_controls(line));
}

/// Writes the one usage-error line and gives the usage exit code.
pub(crate) fn usage_error(msg: &str) -> anyhow::Result<u8> {
    say!("mmprompt: usage error: {msg}");
    Ok(EXIT_USAGE)
}

#[cfg(test)]
mod tests {
    use super::escape_controls;

    #[test]
    fn printed_lines_stay_one_line_and_show_their_bytes() {
        assert_eq!(escape_controls("plain é line"), "plain é line");
        assert_eq!(
            escape_controls("a\nmmprompt: error: forged\r\u{1b}[2J\u{202e}x"),
            "a\\nmmprompt: error: forged\\r\\u{1b}[2J\\u{202e}x"
        );
        assert!(!escape_controls("\u{2028}\u{0}\u{7f}\u{85}")
            .chars()
            .any(|c| c.is_control()));
    }
}
