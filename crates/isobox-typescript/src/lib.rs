//! TypeScript programs for isobox. Models often write TypeScript against the declarations they are prompted with, and
//! often wrap it in a markdown code fence; [`to_javascript`] turns either into the JavaScript the sandbox runs, and
//! [`TypeScript`] wraps any backend so that its programs may be TypeScript.
//!
//! Types are erased, not compiled: every type annotation is replaced by whitespace (with
//! [`swc_ts_fast_strip`](https://docs.rs/swc_ts_fast_strip)'s strip-only mode), so every line and column of the
//! JavaScript is the line and column of the program as given, and syntax errors and stack traces point into the
//! model's own code. TypeScript features that generate code (`enum`, `namespace`, constructor parameter properties,
//! `<T>value` casts) have no erased form and are refused with a `syntax` error that says so.
//!
//! ```
//! let js = isobox_typescript::to_javascript("```ts\nconst n: number = await Promise.resolve(2);\nreturn n;\n```")?;
//! assert_eq!(js, "\nconst n         = await Promise.resolve(2);\nreturn n;\n");
//! # Ok::<(), isobox_core::SandboxError>(())
//! ```

mod backend;
mod fence;
mod strip;

pub use backend::TypeScript;
pub use fence::{is_fenced, unfence};
pub use strip::{MAX_TYPESCRIPT_BYTES, strip_types};

use isobox_core::SandboxError;
use isobox_core::backend::line_and_column;

/// The JavaScript of a program written in TypeScript or JavaScript (the body of an async function, as every isobox
/// program), optionally wrapped in a markdown code fence. Lines and columns are kept: a fence line becomes an empty
/// line, a type becomes spaces.
///
/// # Errors
/// A [`SandboxError::Syntax`], with its position in the text as given, for a fence that is not the whole input or
/// names another language, a program that does not parse, one that uses TypeScript with no erased form, or one longer
/// than [`MAX_TYPESCRIPT_BYTES`].
pub fn to_javascript(source: &str) -> Result<String, SandboxError> {
    strip_types(&unfence(source)?)
}
