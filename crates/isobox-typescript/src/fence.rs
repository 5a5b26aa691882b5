//! Programs wrapped in a markdown code fence (```` ```ts ```` … ```` ``` ````), as models often send them.

use std::borrow::Cow;

use isobox_core::SandboxError;

use crate::line_and_column;

const FENCE: &str = "```";

/// The info strings a fence may carry: the languages isobox runs.
const LANGUAGES: [&str; 7] = ["", "js", "javascript", "mjs", "ts", "typescript", "mts"];

/// Whether `source` is a code block: a fence is its first non-blank text.
pub fn is_fenced(source: &str) -> bool {
    source.trim_start().starts_with(FENCE)
}

/// The program inside a code fence, or `source` itself when it is not fenced. The opening fence line becomes an empty
/// line and the closing fence is dropped, so lines and columns stay those of the text as given. The fenced block must
/// be the whole input, in JavaScript or TypeScript (` ```js `, ` ```ts `, or no language).
///
/// # Errors
/// A [`SandboxError::Syntax`] at the opening fence's line for a fence with no code lines, another language, no closing
/// fence, or a closing fence that is not on a line of its own.
pub fn unfence(source: &str) -> Result<Cow<'_, str>, SandboxError> {
    if !is_fenced(source) {
        return Ok(Cow::Borrowed(source));
    }
    let start = source.len() - source.trim_start().len();
    let line = line_and_column(&source[..start]).0;
    let error = |message: String| Err(SandboxError::Syntax { message, line, column: 1 });
    let Some(opening_len) = source[start..].find('\n') else {
        return error("a code block needs its code on the lines between its fences".into());
    };
    let language = source[start..start + opening_len].trim_start_matches('`').trim();
    if !LANGUAGES.iter().any(|known| known.eq_ignore_ascii_case(language)) {
        return error(format!("a ```{language} code block: isobox runs JavaScript or TypeScript"));
    }
    let code_start = start + opening_len + 1;
    let Some(code) = source[code_start..].trim_end().strip_suffix(FENCE) else {
        return error("the code block is not closed: end the program with a ``` line".into());
    };
    if !code.is_empty() && !code.ends_with('\n') {
        return error("the closing ``` must be on a line of its own".into());
    }
    // As many line breaks as the fence and what precedes it hold, as JavaScript counts them (`trim` also passes `\r`,
    // U+2028 and U+2029).
    let blank_lines = "\n".repeat(line_and_column(&source[..code_start]).0 as usize - 1);
    Ok(Cow::Owned(blank_lines + code))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn syntax_error(source: &str) -> (String, u32) {
        match unfence(source) {
            Err(SandboxError::Syntax { message, line, .. }) => (message, line),
            other => panic!("{source:?}: {other:?}"),
        }
    }

    #[test]
    fn unfenced_programs_pass_through() {
        assert!(matches!(unfence("return 1"), Ok(Cow::Borrowed("return 1"))));
        assert!(matches!(unfence("const s = '```';"), Ok(Cow::Borrowed(_))));
    }

    #[test]
    fn the_fence_lines_go_and_the_lines_of_the_code_stay() {
        for opening in ["```", "```ts", "```typescript", "```js", "```JavaScript", "``` ts "] {
            let source = format!("{opening}\nconst a = 1;\n  return a;\n```");
            assert_eq!(unfence(&source).unwrap(), "\nconst a = 1;\n  return a;\n", "{opening}");
        }
        assert_eq!(unfence("\n\n  ```ts\nreturn 1\n```\n\n").unwrap(), "\n\n\nreturn 1\n");
        assert_eq!(unfence("```\n```").unwrap(), "\n");
        // Lines as JavaScript counts them, so that the code stays on its lines for the engine too.
        assert_eq!(unfence("\r\u{2028}```ts\r\nreturn 1\n```").unwrap(), "\n\n\nreturn 1\n");
        assert_eq!(unfence("```ts\u{2029}\nreturn 1\n```").unwrap(), "\n\nreturn 1\n");
    }

    #[test]
    fn a_fence_that_is_not_a_whole_program_is_refused() {
        let (message, line) = syntax_error("\n```python\nprint(1)\n```");
        assert_eq!(line, 2);
        assert!(message.contains("```python code block"), "{message}");
        assert_eq!(syntax_error("\r\r\n\u{2028}```python\nprint(1)\n```").1, 4);
        assert!(syntax_error("```ts\nreturn 1").0.contains("not closed"));
        assert!(syntax_error("```ts\nreturn 1\n```\nThis returns one.").0.contains("not closed"));
        assert!(syntax_error("```ts return 1 ```").0.contains("lines between its fences"));
        assert!(syntax_error("```ts\nreturn 1```").0.contains("line of its own"));
    }
}
