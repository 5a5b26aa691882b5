//! The `search` tool: the granted API as compact TypeScript, whole or narrowed to a query. What it returns is what the
//! model is prompted with, so it says exactly what a program can call and nothing more.

use isobox_capabilities::{Interface, declarations};

/// The TypeScript declarations of `interfaces`. With a query, only the functions whose capability, name or doc comment
/// contains every word of it (case-insensitive), with the named types they use.
pub fn search(interfaces: &[Interface], query: Option<&str>) -> String {
    let words: Vec<String> = query.unwrap_or("").split_whitespace().map(str::to_lowercase).collect();
    if words.is_empty() {
        return declarations(interfaces);
    }
    let matching: Vec<Interface> = interfaces
        .iter()
        .filter_map(|interface| {
            let functions: Vec<_> = interface
                .functions
                .iter()
                .filter(|function| {
                    let text = format!(
                        "{}.{} {} {}",
                        interface.global,
                        function.method,
                        function.name,
                        function.docs.as_deref().unwrap_or("")
                    )
                    .to_lowercase();
                    words.iter().all(|word| text.contains(word.as_str()))
                })
                .cloned()
                .collect();
            (!functions.is_empty()).then(|| Interface { functions, ..interface.clone() })
        })
        .collect();
    if matching.is_empty() {
        return format!(
            "// No function matches `{}`: search with fewer words, or without a query for the whole API.\n",
            words.join(" ")
        );
    }
    declarations(&matching)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shop() -> Vec<Interface> {
        vec![isobox_builtins::shop::capability().interface().clone()]
    }

    #[test]
    fn no_query_declares_everything() {
        assert_eq!(search(&shop(), None), declarations(&shop()));
        assert_eq!(search(&shop(), Some("  ")), declarations(&shop()));
    }

    #[test]
    fn a_query_keeps_the_matching_functions_and_the_types_they_use() {
        let found = search(&shop(), Some("ORDER one"));
        assert!(found.contains("declare const shop: {"), "{found}");
        assert!(found.contains(
            "  /** One order; fails if there is none with this id. */\n  getOrder(id: number): Promise<Order>;"
        ));
        assert!(found.contains("type Order = {") && found.contains("type OrderLine = {"), "{found}");
        assert!(found.contains("type OrderStatus = "), "{found}");
        assert!(!found.contains("listOrders") && !found.contains("getCustomer"), "{found}");
        assert!(!found.contains("type Customer") && !found.contains("type OrderFilter"), "{found}");
    }

    #[test]
    fn names_and_docs_both_match() {
        let by_name = search(&shop(), Some("listcustomers"));
        assert!(by_name.contains("listCustomers(") && !by_name.contains("getCustomer("), "{by_name}");
        let by_docs = search(&shop(), Some("oldest first"));
        assert!(by_docs.contains("listOrders(filter: OrderFilter)"), "{by_docs}");
        let by_capability = search(&shop(), Some("shop.get"));
        assert_eq!(by_capability.matches("Promise<").count(), 2, "{by_capability}");
    }

    #[test]
    fn no_match_says_so_in_a_comment() {
        let found = search(&shop(), Some("weather forecast"));
        assert!(found.starts_with("// No function matches `weather forecast`"), "{found}");
    }
}
