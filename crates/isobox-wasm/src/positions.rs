//! QuickJS places a position by its `\n`-separated line and a column in UTF-8 bytes from that line's start; isobox
//! reports lines as JavaScript counts them and columns in UTF-16 code units, as V8 and the TypeScript eraser do. The
//! guest's positions in the program (a syntax error's, and the frames of an exception's stack) are counted again here,
//! with the program's text.

use std::collections::{BTreeMap, BTreeSet};

use isobox_core::SandboxError;
use isobox_core::backend::PositionCounter;

/// The program's name in the guest's stacks.
const FILE: &str = "agent.js:";

/// `error` with the positions the guest reported in `code` counted as isobox counts them. A position outside the
/// program (a syntax error in what isobox wraps it in) is left for [`SandboxError::within_program`].
pub(crate) fn counted_in_utf16(error: SandboxError, code: &str) -> SandboxError {
    match error {
        SandboxError::Syntax { message, line, column } => {
            let converted = convert(code, [(line, column)].into_iter().collect());
            let (line, column) = converted.get(&(line, column)).copied().flatten().unwrap_or((line, column));
            SandboxError::Syntax { message, line, column }
        }
        SandboxError::Exception { name, message, stack: Some(stack) } => {
            SandboxError::Exception { name, message, stack: Some(stack_counted_in_utf16(&stack, code)) }
        }
        other => other,
    }
}

/// The stack with the position that ends each frame line converted. Only that one: the function names before it are
/// the program's, and may contain look-alikes.
fn stack_counted_in_utf16(stack: &str, code: &str) -> String {
    let frames: Vec<(&str, Option<Frame>)> = stack.split('\n').map(|line| (line, Frame::parse(line))).collect();
    let wanted = frames.iter().filter_map(|(_, frame)| frame.as_ref().map(|frame| (frame.line, frame.column)));
    let converted = convert(code, wanted.collect());
    let mut out = String::with_capacity(stack.len());
    for (i, (line, frame)) in frames.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        match frame.as_ref().and_then(|frame| Some((frame, converted.get(&(frame.line, frame.column)).copied()??))) {
            Some((frame, (to_line, to_column))) => {
                out.push_str(frame.before);
                out.push_str(&format!("{FILE}{to_line}:{to_column}"));
                out.push_str(frame.after);
            }
            None => out.push_str(line),
        }
    }
    out
}

/// A frame line ending in `agent.js:LINE:COLUMN`, or in that within parentheses.
struct Frame<'a> {
    before: &'a str,
    line: u32,
    column: u32,
    after: &'a str,
}

impl<'a> Frame<'a> {
    fn parse(text: &'a str) -> Option<Self> {
        let (body, after) = match text.strip_suffix(')') {
            Some(body) => (body, ")"),
            None => (text, ""),
        };
        let start = body.rfind(FILE)?;
        let (line, column) = body[start + FILE.len()..].split_once(':')?;
        Some(Self { before: &body[..start], line: number(line)?, column: number(column)?, after })
    }
}

/// A decimal number of digits only (`str::parse` would take a sign).
fn number(digits: &str) -> Option<u32> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Each guest position (1-based `\n`-line, 1-based byte column) in `code` as isobox counts it, or `None` for a line
/// past the program's. One pass over the program for all of them: a hostile stack may name thousands.
fn convert(code: &str, wanted: BTreeSet<(u32, u32)>) -> BTreeMap<(u32, u32), Option<(u32, u32)>> {
    let mut counter = PositionCounter::new(code);
    let mut lines = code.split_inclusive('\n').scan(0usize, |start, line| {
        let this = *start;
        *start += line.len();
        Some((this, line.strip_suffix('\n').unwrap_or(line).len()))
    });
    let (mut number, mut current) = (0u32, None);
    let mut converted = BTreeMap::new();
    for (line, column) in wanted {
        while number < line {
            current = lines.next();
            number += 1;
            if current.is_none() {
                break;
            }
        }
        let position = current.filter(|_| number == line && line > 0).map(|(start, length)| {
            // A column past the line's end (QuickJS's end of input) is its end.
            let within = (column.max(1) - 1) as usize;
            counter.position(start + within.min(length))
        });
        converted.insert((line, column), position);
    }
    converted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn syntax(line: u32, column: u32) -> SandboxError {
        SandboxError::Syntax { message: "m".into(), line, column }
    }

    #[test]
    fn syntax_error_columns_become_utf16_code_units() {
        // `)` is at byte column 24 of its line, code unit column 18; after an astral character, 19 and 17.
        assert_eq!(counted_in_utf16(syntax(1, 24), "const s = \"€€€\"; )"), syntax(1, 18));
        assert_eq!(counted_in_utf16(syntax(2, 19), "let a;\nconst s = \"😀\"; )"), syntax(2, 17));
        // Lines as JavaScript counts them: a lone `\r` and U+2028 end lines, which QuickJS does not count.
        assert_eq!(counted_in_utf16(syntax(1, 13), "a;\rb;\u{2028}é; )"), syntax(3, 4));
        // Past the program's lines, and past a line's end, nothing is made up.
        assert_eq!(counted_in_utf16(syntax(3, 1), "a\nb"), syntax(3, 1));
        assert_eq!(counted_in_utf16(syntax(1, 99), "ab"), syntax(1, 3));
        assert_eq!(counted_in_utf16(syntax(0, 0), "ab"), syntax(0, 0));
    }

    #[test]
    fn only_the_position_ending_a_frame_is_converted() {
        let code = "const s = \"€😀\"; f()\nlet t = 1";
        let stack =
            "    at agent.js:1:9 (agent.js:1:22)\n    at agent.js:1:22\n    at f (agent.js:9:1)\n    at native\n";
        let error = SandboxError::Exception { name: "E".into(), message: "m".into(), stack: Some(stack.into()) };
        let SandboxError::Exception { stack: Some(stack), .. } = counted_in_utf16(error, code) else { panic!() };
        assert_eq!(
            stack,
            "    at agent.js:1:9 (agent.js:1:18)\n    at agent.js:1:18\n    at f (agent.js:9:1)\n    at native\n"
        );
    }

    #[test]
    fn hostile_positions_are_left_alone() {
        for frame in
            ["at (agent.js:+1:1)", "at agent.js:1:", "at agent.js:99999999999:1", "agent.js:1:1:1", "agent.js:"]
        {
            let error = SandboxError::Exception { name: "E".into(), message: "m".into(), stack: Some(frame.into()) };
            assert_eq!(counted_in_utf16(error.clone(), "é"), error, "{frame}");
        }
    }
}
