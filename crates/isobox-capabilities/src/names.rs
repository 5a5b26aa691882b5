//! The one naming rule between WIT and JavaScript: kebab-case words become camelCase for globals, methods, parameters
//! and fields, and PascalCase for type names.

use std::collections::HashSet;

/// `list-orders` → `listOrders`.
pub fn camel_case(kebab: &str) -> String {
    let pascal = pascal_case(kebab);
    let mut chars = pascal.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => pascal,
    }
}

/// `order-status` → `OrderStatus`.
pub fn pascal_case(kebab: &str) -> String {
    kebab
        .split('-')
        .flat_map(|word| {
            let mut chars = word.chars();
            chars.next().into_iter().flat_map(char::to_uppercase).chain(chars)
        })
        .collect()
}

/// A JavaScript identifier made of the words of any name, for methods named by documents isobox does not write (an
/// MCP tool's name, an OpenAPI `operationId`): split at everything but ASCII letters and digits, then camel-cased
/// (`create_entities`, `pulls/list`, `files/read.all` → `createEntities`, `pullsList`, `filesReadAll`), with `_` before
/// a leading digit, and `fallback` when no word is left.
pub fn identifier(name: &str, fallback: &str) -> String {
    let words: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    let words: Vec<&str> = words.split('-').filter(|word| !word.is_empty()).collect();
    let mut identifier = camel_case(&words.join("-"));
    if identifier.is_empty() {
        identifier = fallback.to_string();
    } else if identifier.starts_with(|c: char| c.is_ascii_digit()) {
        identifier.insert(0, '_');
    }
    identifier
}

/// `base`, or `base2`, `base3`, … the first not in `taken`, which then is.
pub fn unique(base: String, taken: &mut HashSet<String>) -> String {
    let mut name = base.clone();
    let mut counter = 2;
    while !taken.insert(name.clone()) {
        name = format!("{base}{counter}");
        counter += 1;
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kebab_case_becomes_camel_and_pascal_case() {
        assert_eq!(camel_case("list-orders"), "listOrders");
        assert_eq!(camel_case("kv"), "kv");
        assert_eq!(camel_case("get-HTTP-url"), "getHTTPUrl");
        assert_eq!(pascal_case("order-status"), "OrderStatus");
    }
}
