//! The paths a program gives, checked before anything is opened. cap-std would refuse most escapes on its own; these
//! checks make the refusals clear and early, and bound what the host does for one path.

use isobox_capabilities::CallError;

/// The longest path accepted, in bytes (Linux's `PATH_MAX`).
pub const MAX_PATH_BYTES: usize = 4096;
/// The longest name of one file or directory, in bytes (Linux's `NAME_MAX`).
pub const MAX_NAME_BYTES: usize = 255;
/// The most directories a path may go through, and so how deep `mkdir` may nest.
pub const MAX_DEPTH: usize = 32;
/// Names starting with this are the host's temporary files (a write in progress): a program can neither name nor see
/// them.
pub(crate) const TEMP_PREFIX: &str = ".isobox-tmp-";

/// The components of `path`, checked: relative, `/`-separated, without NUL bytes or `..`, each name at most
/// [`MAX_NAME_BYTES`], the whole at most [`MAX_PATH_BYTES`] and [`MAX_DEPTH`] + 1 components. Empty components and
/// `.` are skipped, so `""`, `"."` and `"a//b/"` are the top directory and `a/b`.
pub(crate) fn components(path: &str) -> Result<Vec<&str>, CallError> {
    if path.len() > MAX_PATH_BYTES {
        return Err(refused(format!("a path is at most {MAX_PATH_BYTES} bytes, this one is {}", path.len())));
    }
    if path.contains('\0') {
        return Err(refused(format!("{} contains a NUL byte", shown(path))));
    }
    if path.starts_with('/') {
        return Err(refused(format!(
            "{} is absolute; paths are relative to the files directory (such as `data/notes.txt`)",
            shown(path)
        )));
    }
    let mut components = Vec::new();
    for component in path.split('/') {
        match component {
            "" | "." => {}
            ".." => {
                return Err(refused(format!("{} contains `..`; paths stay beneath the files directory", shown(path))));
            }
            name if name.len() > MAX_NAME_BYTES => {
                return Err(refused(format!(
                    "a name is at most {MAX_NAME_BYTES} bytes; `{}…` is {}",
                    prefix(name, 40),
                    name.len()
                )));
            }
            name if name.starts_with(TEMP_PREFIX) => {
                return Err(refused(format!("names starting with `{TEMP_PREFIX}` are the host's")));
            }
            name => components.push(name),
        }
    }
    if components.len() > MAX_DEPTH + 1 {
        return Err(refused(format!(
            "{} is nested {} levels deep; at most {MAX_DEPTH} directories",
            shown(path),
            components.len() - 1
        )));
    }
    Ok(components)
}

/// `path` in an error message: quoted, shortened past 200 bytes.
pub(crate) fn shown(path: &str) -> String {
    if path.len() > 200 { format!("`{}…`", prefix(path, 200)) } else { format!("`{path}`") }
}

/// The first characters of `text`, at most `bytes` bytes of them.
fn prefix(text: &str, bytes: usize) -> &str {
    let mut end = bytes.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn refused(message: String) -> CallError {
    CallError::new(format!("files: path refused: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_split_into_names() {
        assert_eq!(components("a/b.txt").unwrap(), ["a", "b.txt"]);
        assert_eq!(components("./a//b/").unwrap(), ["a", "b"]);
        assert!(components("").unwrap().is_empty());
        assert!(components(".").unwrap().is_empty());
        assert_eq!(components("..a/b..").unwrap(), ["..a", "b.."]);
    }

    #[test]
    fn escapes_and_oversized_paths_are_refused_with_a_reason() {
        let message = |path: &str| components(path).unwrap_err().message;
        assert!(message("../x").contains("`..`"));
        assert!(message("a/../../x").contains("`..`"));
        assert!(message("/etc/passwd").contains("absolute"));
        assert!(message("a\0b").contains("NUL"));
        assert!(message(&"n".repeat(256)).contains("at most 255 bytes"));
        assert!(components(&"n".repeat(255)).is_ok());
        assert!(message(&"a/".repeat(2049)).contains("at most 4096 bytes"));
        assert!(message(&"d/".repeat(40)).contains("at most 32 directories"));
        assert!(components(&["d"; 33].join("/")).is_ok());
        assert!(message(".isobox-tmp-1-2").contains("the host's"));
        // A multi-byte character straddling the cut is not split.
        assert!(message(&"é".repeat(200)).contains("is 400"));
    }
}
