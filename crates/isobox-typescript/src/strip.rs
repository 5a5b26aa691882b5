//! Type erasure: TypeScript to JavaScript with every position kept.

use std::sync::{Arc, Mutex};

use isobox_core::SandboxError;
use swc_common::errors::{DiagnosticBuilder, Emitter, Handler};
use swc_common::sync::Lrc;
use swc_common::{BytePos, SourceMap};
use swc_ts_fast_strip::{Mode, Options, operate};

use crate::line_and_column;

/// An isobox program is the body of an async function, so it may `return` and `await` at its top. It is parsed as
/// such, wrapped in a function whose header is a line of its own, and unwrapped after: positions shift by exactly that
/// line.
const PREFIX: &str = "async function isobox(input) {\n";
const SUFFIX: &str = "\n}";

/// The most stack swc takes per byte of a program, with a margin: its parser, the eraser and the syntax tree's drop
/// recurse once per level of nesting, and a level takes at least one byte. Measured on `((((…` — the costliest
/// construct per byte — at about 2.4 KiB a level (`[` 1.6 KiB, `a=>` 2.5 KiB a level but three bytes).
const STACK_PER_BYTE: usize = 4 << 10;

/// Stack for the parts of erasing that do not depend on the program's size.
const BASE_STACK: usize = 1 << 20;

/// The most stack one program's erasure may take.
const MAX_STACK: usize = 256 << 20;

/// The longest program whose types isobox erases (64 KiB). Erasing runs on a stack sized for the deepest nesting a
/// program of its length could have, so that no program, however it nests, can overflow the host's stack; this
/// bounds that stack. Longer programs must be JavaScript.
pub const MAX_TYPESCRIPT_BYTES: usize = (MAX_STACK - BASE_STACK) / STACK_PER_BYTE;

/// `source` with its TypeScript types replaced by whitespace. JavaScript comes back unchanged. Positions are kept:
/// line and column `n` of the result are line and column `n` of `source`.
///
/// # Errors
/// A program that does not parse, that uses TypeScript with no erased form, or that is longer than
/// [`MAX_TYPESCRIPT_BYTES`] is a [`SandboxError::Syntax`].
pub fn strip_types(source: &str) -> Result<String, SandboxError> {
    if source.len() > MAX_TYPESCRIPT_BYTES {
        return Err(SandboxError::Syntax {
            message: format!(
                "the program is {} bytes long: isobox erases the types of programs of up to {MAX_TYPESCRIPT_BYTES} \
                 bytes; send a longer one as JavaScript",
                source.len()
            ),
            line: 1,
            column: 1,
        });
    }
    // swc recurses once per level of nesting without a bound of its own: on a stack that can hold the deepest
    // nesting this program could have, a deep program is a syntax error or runs (and QuickJS reports its depth), and
    // never overflows the host's stack. Only what the program really uses of it is touched.
    let stack = BASE_STACK + source.len() * STACK_PER_BYTE;
    stacker::maybe_grow(stack, stack, || erase(source))
}

fn erase(source: &str) -> Result<String, SandboxError> {
    let map: Lrc<SourceMap> = Lrc::default();
    let diagnostics = Diagnostics::default();
    let handler = Handler::with_emitter(false, false, Box::new(diagnostics.clone()));
    let options = Options { module: Some(false), mode: Mode::StripOnly, ..Options::default() };
    let wrapped = format!("{PREFIX}{source}{SUFFIX}");
    match operate(&map, &handler, wrapped, options) {
        Ok(output) => output
            .code
            .strip_prefix(PREFIX)
            .and_then(|code| code.strip_suffix(SUFFIX))
            .map(str::to_string)
            .ok_or_else(|| SandboxError::internal("type stripping changed the program's wrapper")),
        Err(error) => {
            let first = isobox_core::sync::lock(&diagnostics.0).first().cloned();
            let (message, at) = first.unwrap_or((error.message, None));
            let (line, column) = at.map_or((1, 1), |at| position(&map, source, at));
            Err(SandboxError::Syntax { message: explain(&message), line, column })
        }
    }
}

/// The 1-based line and column in `source` of a position in its wrapped form, as engines number them (swc's own lines
/// differ: it ends none at U+2028 or U+2029, and counts columns in characters). A position in the wrapper's opening
/// line is the start of the program, one in its closing line (an unclosed block, say) the end.
fn position(map: &SourceMap, source: &str, at: BytePos) -> (u32, u32) {
    let Ok(found) = map.try_lookup_byte_offset(at) else {
        return (1, 1);
    };
    let mut offset = (found.pos.0 as usize).saturating_sub(PREFIX.len()).min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    line_and_column(&source[..offset])
}

/// swc's message, in isobox's terms where they differ.
fn explain(message: &str) -> String {
    match message.strip_suffix(" in strip-only mode") {
        Some(feature) => format!(
            "{feature}: isobox erases TypeScript's types but does not compile the features that generate code; write \
             this part in JavaScript"
        ),
        None => message.to_string(),
    }
}

/// What the parser and the stripper reported, in order.
#[derive(Clone, Default)]
struct Diagnostics(Arc<Mutex<Vec<Reported>>>);

/// One report: its message and where.
type Reported = (String, Option<BytePos>);

impl Emitter for Diagnostics {
    fn emit(&mut self, diagnostic: &mut DiagnosticBuilder<'_>) {
        let at = diagnostic.span.primary_span().map(|span| span.lo);
        isobox_core::sync::lock(&self.0).push((diagnostic.message(), at));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn syntax_error(source: &str) -> (String, u32, u32) {
        match strip_types(source) {
            Err(SandboxError::Syntax { message, line, column }) => (message, line, column),
            other => panic!("{source:?}: {other:?}"),
        }
    }

    #[test]
    fn types_become_whitespace_and_positions_stay() {
        let source = "type Row = { id: number };\nconst rows: Row[] = await load<Row>(input as string);\nreturn rows.map((r: Row): number => r.id)!;";
        let stripped = strip_types(source).unwrap();
        assert_eq!(
            stripped,
            ";                         \nconst rows        = await load     (input          );\nreturn rows.map((r     )         => r.id) ;"
        );
        assert_eq!(stripped.lines().count(), source.lines().count());
    }

    #[test]
    fn javascript_comes_back_unchanged() {
        for source in [
            "return 1",
            "const xs = await Promise.all([1, 2].map(async x => x * 2));\nreturn xs; // done",
            "console.log(`a < b > c`);\n/* a comment */ return input?.x ?? null;",
            "",
        ] {
            assert_eq!(strip_types(source).unwrap(), source);
        }
    }

    #[test]
    fn interfaces_generics_and_non_null_assertions_are_erased() {
        let source = "interface Point { x: number; y: number }\nfunction sum<T extends Point>(ps: T[]): number { return ps.reduce((s, p) => s + p.x!, 0) }\nreturn sum([{ x: 1, y: 2 }]);";
        let stripped = strip_types(source).unwrap();
        let lines: Vec<&str> = stripped.lines().collect();
        // An erased declaration leaves a `;`, so that the statements around it stay apart.
        assert_eq!(lines[0], format!(";{}", " ".repeat(39)));
        assert_eq!(
            lines[1],
            "function sum                 (ps     )         { return ps.reduce((s, p) => s + p.x , 0) }"
        );
        assert_eq!(lines[2], "return sum([{ x: 1, y: 2 }]);");
    }

    #[test]
    fn syntax_errors_point_into_the_program() {
        let (message, line, column) = syntax_error("const a: number = 1;\nconst b = ;");
        assert_eq!((line, column), (2, 11), "{message}");
        assert!(!message.is_empty());
        let (_, line, column) = syntax_error("if (input) {\n  return 1;");
        assert_eq!((line, column), (2, 12));
    }

    /// Lines end where JavaScript ends them (swc alone ends none at U+2028 or U+2029), and columns count UTF-16 code
    /// units, so that a syntax error's position is the one an engine would give for the same line.
    #[test]
    fn syntax_errors_count_lines_and_columns_as_javascript_does() {
        for terminator in ["\n", "\r", "\r\n", "\u{2028}", "\u{2029}"] {
            let source = format!("const a: number = 1;{terminator}// two{terminator}const b = ;");
            let (message, line, column) = syntax_error(&source);
            assert_eq!((line, column), (3, 11), "{source:?}: {message}");
            let (_, line, column) = syntax_error(&format!("if (input) {{{terminator}  return 1;"));
            assert_eq!((line, column), (2, 12), "{terminator:?}");
        }
        let (_, line, column) = syntax_error("let s = '\u{1F600}é';\rlet t = '\u{1F600}é'; let b = ;");
        assert_eq!((line, column), (2, 24));
    }

    /// Nesting as deep as a program's length allows cannot overflow the stack, even a small one: erasure grows its
    /// stack for the program it reads.
    #[test]
    fn nesting_of_any_depth_cannot_overflow_the_stack() {
        let programs = [
            format!("return {}1{}", "[".repeat(3000), "]".repeat(3000)),
            format!("return {}", "(".repeat(MAX_TYPESCRIPT_BYTES - 7)),
            format!("return {}1", "a=>".repeat(MAX_TYPESCRIPT_BYTES / 3 - 3)),
            format!("{}1", "if(a)".repeat(5000)),
        ];
        for program in programs {
            let erased = std::thread::Builder::new()
                .stack_size(256 << 10)
                .spawn(move || strip_types(&program).map(|code| code.len()))
                .unwrap()
                .join()
                .expect("erasing did not panic");
            if let Err(error) = erased {
                assert_eq!(error.kind(), "syntax", "{error:?}");
            }
        }
    }

    #[test]
    fn programs_longer_than_the_bound_are_refused() {
        let (message, line, column) = syntax_error(&" ".repeat(MAX_TYPESCRIPT_BYTES + 1));
        assert_eq!((line, column), (1, 1));
        assert!(message.contains("send a longer one as JavaScript"), "{message}");
        assert!(strip_types(&" ".repeat(MAX_TYPESCRIPT_BYTES)).is_ok());
    }

    #[test]
    fn features_that_generate_code_are_refused_where_they_are() {
        let cases = [
            ("enum Color { Red, Green }", 1, 1, "enum"),
            ("return 1;\nnamespace N { export const x = 1 }", 2, 1, "namespace"),
            ("class P {\n  constructor(private x: number) {}\n}", 2, 23, "parameter property"),
            ("const n = <number>input;", 1, 11, "type assertions"),
        ];
        for (source, line, column, what) in cases {
            let (message, at_line, at_column) = syntax_error(source);
            assert_eq!((at_line, at_column), (line, column), "{source}: {message}");
            assert!(message.contains(what), "{source}: {message}");
            assert!(!message.contains("strip-only"), "{message}");
        }
    }
}
