//! The TypeScript eraser and the code-fence reader (`isobox_typescript`), on any text (invalid UTF-8 made lossy).
//!
//! Properties: no panic; `unfence` keeps every line of the code where it was (the fence lines become empty lines);
//! `strip_types` keeps the layout, as the crate promises (the same lines, each of the same length in UTF-16 code
//! units, which is how JavaScript counts columns), and changes nothing but the erased types (which become
//! whitespace, or a `;` that keeps statements apart); a syntax error points inside the program as given, lines counted
//! as JavaScript counts them (`\n`, `\r\n`, `\r`, U+2028, U+2029) and columns in UTF-16 code units;
//! `to_javascript` is `unfence` then `strip_types`.

use isobox_core::SandboxError;
use isobox_typescript::{strip_types, to_javascript, unfence};

/// The `typescript` target: `data` (made UTF-8 lossily) is the program. Panics when one of this module's
/// properties fails.
pub fn typescript(data: &[u8]) {
    let source = String::from_utf8_lossy(data);
    let unfenced = unfence(&source);
    match &unfenced {
        Ok(code) => assert_same_lines_or_blank(&source, code),
        Err(error) => assert_points_into(&source, error),
    }
    let Ok(code) = unfenced else {
        assert_eq!(to_javascript(&source), Err(unfence(&source).unwrap_err()));
        return;
    };
    let stripped = strip_types(&code);
    match &stripped {
        Ok(javascript) => assert_layout_kept(&code, javascript),
        Err(error) => assert_points_into(&code, error),
    }
    assert_eq!(to_javascript(&source), stripped, "to_javascript is not unfence then strip_types");
}

/// Every line of `code` is empty or the line of `source` at the same place.
fn assert_same_lines_or_blank(source: &str, code: &str) {
    let source_lines = javascript_lines(source);
    let code_lines = javascript_lines(code);
    assert!(code_lines.len() <= source_lines.len(), "unfence added lines: {source:?} -> {code:?}");
    for (i, (line, original)) in code_lines.iter().zip(&source_lines).enumerate() {
        assert!(line.is_empty() || line == original, "unfence moved line {}: {source:?} -> {code:?}", i + 1);
    }
}

/// The same lines, each as long in UTF-16 code units, and every changed character is an erased one: made a space
/// (whitespace and line terminators stay), or a `;`.
fn assert_layout_kept(source: &str, javascript: &str) {
    let source_lines: Vec<&str> = source.split('\n').collect();
    let lines: Vec<&str> = javascript.split('\n').collect();
    assert_eq!(lines.len(), source_lines.len(), "line count changed: {source:?} -> {javascript:?}");
    for (i, (line, original)) in lines.iter().zip(&source_lines).enumerate() {
        assert_eq!(
            line.encode_utf16().count(),
            original.encode_utf16().count(),
            "line {} changed its length: {original:?} -> {line:?}",
            i + 1
        );
        if line == original {
            continue;
        }
        // Character by character only where the line keeps its characters' count (a wide character erased to spaces
        // does not).
        if line.chars().count() == original.chars().count() {
            for (new, old) in line.chars().zip(original.chars()) {
                assert!(
                    new == old || new == ' ' || new == ';',
                    "line {} changed {old:?} into {new:?}: {original:?} -> {line:?}",
                    i + 1
                );
            }
        }
    }
}

/// A syntax error names a line of `source`, and a column at most one past its end.
fn assert_points_into(source: &str, error: &SandboxError) {
    let SandboxError::Syntax { line, column, message } = error else {
        panic!("a program was refused with an error other than a syntax error: {error:?}")
    };
    assert!(!message.is_empty(), "a syntax error without a message");
    let lines = javascript_lines(source);
    assert!(
        *line >= 1 && (*line as usize) <= lines.len(),
        "{error:?} is outside the {} line(s) of {source:?}",
        lines.len()
    );
    let text = lines[*line as usize - 1];
    let units = text.encode_utf16().count();
    assert!(*column >= 1 && (*column as usize) <= units + 1, "{error:?} is past the end of line {text:?}");
}

/// The lines of `text` as JavaScript counts them: ended by `\n`, `\r\n`, a lone `\r`, U+2028 or U+2029.
fn javascript_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}') {
            lines.push(&text[start..at]);
            if c == '\r' && chars.next_if(|&(_, next)| next == '\n').is_some() {
                start = at + 2;
            } else {
                start = at + c.len_utf8();
            }
        }
    }
    lines.push(&text[start..]);
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_end_where_javascript_ends_them() {
        assert_eq!(javascript_lines("a\nb\rc\r\nd\u{2028}e\u{2029}f"), ["a", "b", "c", "d", "e", "f"]);
        assert_eq!(javascript_lines("\r\r\n"), ["", "", ""]);
    }

    /// Issue 12: a lone `\r` made the eraser's syntax errors point past the end of a line.
    #[test]
    fn syntax_errors_after_any_line_terminator_point_into_the_program() {
        for terminator in ["\r", "\r\n", "\u{2028}", "\u{2029}"] {
            typescript(format!("let a: number = 1;{terminator}{terminator}let b = ;").as_bytes());
            typescript(format!("if (input) {{{terminator}return 1;{terminator}").as_bytes());
            typescript(format!("{terminator}```ts\nlet b = ;\n```").as_bytes());
        }
    }
}
