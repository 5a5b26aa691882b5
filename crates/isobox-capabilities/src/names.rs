//! The one naming rule between WIT and JavaScript: kebab-case words become camelCase for globals, methods, parameters
//! and fields, and PascalCase for type names.

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
