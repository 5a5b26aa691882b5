//! The `search` tool: the functions of the granted API that fit a task, as TypeScript, within a size budget. What it
//! returns is what the model is prompted with, so it says exactly what a program can call and nothing more.
//!
//! Functions are ranked with BM25 over their capability, name (split into words), documentation and parameter names;
//! query and text words are lower-cased and reduced to a crude stem (`requests` → `request`), and a few everyday
//! verbs read as the ones APIs use (`add` → `create`). The answer holds the best matches' declarations and then the
//! named types they use, nearest first, for as long as the budget lasts, and says what it left out.

use std::collections::{BTreeMap, HashMap, HashSet};

use isobox_capabilities::{Function, Interface, declarations, function_declaration, type_declarations};

/// The default size of a `search` answer in bytes: about 1,000 tokens.
pub const DEFAULT_SEARCH_BUDGET: u64 = 4000;
/// The most functions one answer declares.
const MAX_FUNCTIONS: usize = 12;

/// The TypeScript of `interfaces` that fits `query`, in at most about `budget` bytes. Without a query: all of it if it
/// fits, else an overview of each capability's functions by group.
pub fn search(interfaces: &[Interface], query: Option<&str>, budget: usize) -> String {
    let words: Vec<String> = query.map(words).unwrap_or_default();
    if words.is_empty() {
        return overview(interfaces, budget);
    }
    let ranked = rank(interfaces, &words);
    if ranked.is_empty() {
        return format!(
            "// No function matches `{}`: search with other words, or without a query for an overview.\n",
            query.unwrap_or("").trim()
        );
    }
    answer(interfaces, &ranked, query.unwrap_or("").trim(), budget)
}

/// `(interface, function)` indices of the functions that match, best first.
fn rank(interfaces: &[Interface], query: &[String]) -> Vec<(usize, usize)> {
    let documents: Vec<((usize, usize), Vec<String>)> = interfaces
        .iter()
        .enumerate()
        .flat_map(|(i, interface)| {
            interface.functions.iter().enumerate().map(move |(f, function)| ((i, f), document(interface, function)))
        })
        .collect();
    let count = documents.len() as f64;
    let average = documents.iter().map(|(_, words)| words.len()).sum::<usize>() as f64 / count.max(1.0);
    let mut frequency: HashMap<&str, usize> = HashMap::new();
    for (_, words) in &documents {
        for word in words.iter().collect::<HashSet<_>>() {
            *frequency.entry(word.as_str()).or_default() += 1;
        }
    }
    let query: HashSet<&String> = query.iter().collect();
    let (k1, b) = (1.2, 0.75);
    let mut scored: Vec<(f64, (usize, usize))> = documents
        .iter()
        .filter_map(|(at, words)| {
            let score: f64 = query
                .iter()
                .map(|word| {
                    let tf = words.iter().filter(|w| w == word).count() as f64;
                    if tf == 0.0 {
                        return 0.0;
                    }
                    let df = frequency.get(word.as_str()).copied().unwrap_or(0) as f64;
                    let idf = ((count - df + 0.5) / (df + 0.5) + 1.0).ln();
                    idf * tf * (k1 + 1.0) / (tf + k1 * (1.0 - b + b * words.len() as f64 / average))
                })
                .sum();
            (score > 0.0).then_some((score, *at))
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.into_iter().map(|(_, at)| at).collect()
}

/// The words a function is found by: its capability, its name and its documentation.
fn document(interface: &Interface, function: &Function) -> Vec<String> {
    let text = format!("{} {} {}", interface.global, function.method, function.docs.as_deref().unwrap_or(""));
    words(&text)
}

/// Lower-cased, stemmed words of `text`, camelCase and snake_case split, without the most common English words.
fn words(text: &str) -> Vec<String> {
    const STOP: &[&str] = &[
        "a", "an", "the", "of", "to", "for", "in", "on", "with", "and", "or", "by", "from", "is", "are", "be", "it",
        "its", "my", "me", "i", "all", "that", "this", "as", "at", "into", "some", "any", "which", "whose", "their",
    ];
    let mut out = Vec::new();
    let mut word = String::new();
    let mut previous_lower = false;
    let mut flush = |word: &mut String| {
        if !word.is_empty() {
            let lower = word.to_lowercase();
            if !STOP.contains(&lower.as_str()) {
                out.push(synonym(&stem(&lower)).to_string());
            }
            word.clear();
        }
    };
    for c in text.chars() {
        if c.is_alphanumeric() {
            if c.is_uppercase() && previous_lower {
                flush(&mut word);
            }
            previous_lower = c.is_lowercase() || c.is_ascii_digit();
            word.push(c);
        } else {
            flush(&mut word);
            previous_lower = false;
        }
    }
    flush(&mut word);
    out
}

fn stem(word: &str) -> String {
    if word.len() > 4 && word.ends_with("ies") {
        return format!("{}y", &word[..word.len() - 3]);
    }
    if word.len() > 3 && word.ends_with('s') && !word.ends_with("ss") && !word.ends_with("us") {
        return word[..word.len() - 1].to_string();
    }
    word.to_string()
}

/// Everyday words for what APIs name otherwise.
fn synonym(word: &str) -> &str {
    match word {
        "add" | "make" | "post" | "write" => "create",
        "remove" | "erase" => "delete",
        "fetch" | "show" | "read" | "retrieve" => "get",
        "change" | "edit" | "modify" | "set" => "update",
        "find" | "look" | "query" => "search",
        "repository" => "repo",
        "pr" => "pull",
        other => other,
    }
}

/// The declarations of the `ranked` functions (best first) and the types they use, within `budget`.
fn answer(interfaces: &[Interface], ranked: &[(usize, usize)], query: &str, budget: usize) -> String {
    // Room for the header and the closing note.
    let mut left = budget.saturating_sub(300);
    let mut chosen: Vec<(usize, usize, String)> = Vec::new();
    let mut opened = HashSet::new();
    for &(i, f) in ranked.iter().take(MAX_FUNCTIONS) {
        let interface = &interfaces[i];
        let function = &interface.functions[f];
        let mut text = function_declaration(function);
        if text.len() > left && chosen.is_empty() {
            // The best match alone does not fit: say what it is and how to see it whole.
            let docs = function.docs.as_deref().and_then(|docs| docs.lines().next()).unwrap_or("");
            text = format!(
                "  /** {docs} */\n  {}(...): Promise<unknown>; // {} bytes in full: search `{}` with a larger budget\n",
                function.method,
                text.len(),
                function.method
            );
        }
        let block = if opened.contains(&i) { 0 } else { interface.global.len() + 20 };
        if text.len() + block > left {
            continue;
        }
        left -= text.len() + block;
        opened.insert(i);
        chosen.push((i, f, text));
    }
    let functions: Vec<&Function> = chosen.iter().map(|(i, f, _)| &interfaces[*i].functions[*f]).collect();
    let mut types = Vec::new();
    let mut left_out = Vec::new();
    for (name, declaration) in type_declarations(functions.iter().copied()) {
        if declaration.len() <= left {
            left -= declaration.len();
            types.push((name, declaration));
        } else {
            left_out.push(name);
        }
    }

    let mut out = render(interfaces, ranked.len(), &chosen, &types, &left_out, query);
    // The estimates above leave room for the header and the note; should they fall short, types go first, then the
    // weakest matches.
    while out.len() > budget {
        if let Some((name, _)) = types.pop() {
            left_out.insert(0, name);
        } else if chosen.len() > 1 {
            chosen.pop();
        } else {
            break;
        }
        out = render(interfaces, ranked.len(), &chosen, &types, &left_out, query);
    }
    out
}

fn render(
    interfaces: &[Interface],
    matched: usize,
    chosen: &[(usize, usize, String)],
    types: &[(String, String)],
    left_out: &[String],
    query: &str,
) -> String {
    let more = matched - chosen.len();
    let mut out = format!(
        "// {matched} function(s) match `{query}`, best first{}.\n",
        if more > 0 { format!("; {} shown (add words to narrow the search)", chosen.len()) } else { String::new() }
    );
    let mut order: Vec<usize> = Vec::new();
    for (i, _, _) in chosen {
        if !order.contains(i) {
            order.push(*i);
        }
    }
    for i in order {
        out.push_str(&format!("declare const {}: {{\n", interfaces[i].global));
        for (_, _, text) in chosen.iter().filter(|(at, _, _)| *at == i) {
            out.push_str(text);
        }
        out.push_str("};\n");
    }
    for (_, declaration) in types {
        out.push_str(declaration);
    }
    if !left_out.is_empty() {
        let mut note = String::from("// Types left out for the size budget:");
        for name in left_out {
            if note.len() + name.len() > 250 {
                note.push_str(" …");
                break;
            }
            note.push(' ');
            note.push_str(name);
        }
        out.push_str(&note);
        out.push('\n');
    }
    out
}

/// The API as data, for a program that searches it the way it codes (`search` with `code`): one entry per function,
/// `{ capability, method, summary, params }`, where `params` names each parameter, or each property of a parameter
/// that is an object (`owner`, `per_page?`: optional ones end in `?`).
pub fn catalogue(interfaces: &[Interface]) -> serde_json::Value {
    use isobox_capabilities::types::ValueType;
    let entries = interfaces.iter().flat_map(|interface| {
        interface.functions.iter().map(move |function| {
            let mut params = Vec::new();
            for param in &function.params {
                let ty = match &param.ty {
                    ValueType::Option(inner) => inner.as_ref(),
                    ty => ty,
                };
                match ty {
                    ValueType::Object(object) => params.extend(
                        object
                            .properties
                            .iter()
                            .map(|property| format!("{}{}", property.name, if property.required { "" } else { "?" })),
                    ),
                    _ => params.push(param.name.clone()),
                }
            }
            let summary = function.docs.as_deref().and_then(|docs| docs.lines().next()).unwrap_or("");
            serde_json::json!({
                "capability": interface.global,
                "method": function.method,
                "summary": summary,
                "params": params,
            })
        })
    });
    serde_json::Value::Array(entries.collect())
}

/// Without a query: every declaration if they fit, else per capability its functions by group (the first word of
/// their names) with counts.
fn overview(interfaces: &[Interface], budget: usize) -> String {
    let whole = declarations(interfaces);
    if whole.len() <= budget {
        return whole;
    }
    let mut out = format!(
        "// The whole API is {} bytes of TypeScript: search with words for the functions of a task.\n",
        whole.len()
    );
    // Each capability gets a fair share of what is left, so that a large one does not hide the others.
    for (i, interface) in interfaces.iter().enumerate() {
        let share = budget.saturating_sub(out.len()) / (interfaces.len() - i);
        let mut groups: BTreeMap<String, usize> = BTreeMap::new();
        for function in &interface.functions {
            let group: String = function.method.chars().take_while(|c| !c.is_uppercase()).collect();
            *groups.entry(group).or_default() += 1;
        }
        let items: Vec<String> = if groups.len() == interface.functions.len() {
            interface.functions.iter().map(|function| function.method.clone()).collect()
        } else {
            groups.iter().map(|(group, count)| format!("{group}* {count}")).collect()
        };
        let mut line = format!("// {} ({} functions):", interface.global, interface.functions.len());
        for (shown, item) in items.iter().enumerate() {
            let more = format!(" … {} more", items.len() - shown);
            if line.len() + item.len() + 2 + more.len() + 1 > share {
                line.push_str(&more);
                break;
            }
            line.push_str(if shown == 0 { " " } else { ", " });
            line.push_str(item);
        }
        line.push('\n');
        if line.len() <= share {
            out.push_str(&line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shop() -> Vec<Interface> {
        vec![isobox_shop::capability().interface().clone()]
    }

    fn search(interfaces: &[Interface], query: Option<&str>) -> String {
        super::search(interfaces, query, DEFAULT_SEARCH_BUDGET as usize)
    }

    #[test]
    fn no_query_declares_everything_that_fits() {
        assert_eq!(search(&shop(), None), declarations(&shop()));
        assert_eq!(search(&shop(), Some("  ")), declarations(&shop()));
        let overview = super::search(&shop(), None, 200);
        assert!(overview.starts_with("// The whole API is"), "{overview}");
        assert!(overview.contains("// shop (5 functions): get* 2, list* 3"), "{overview}");
        // A capability with more functions than fit is listed in part, and says how many more it has.
        let mut many = shop();
        many[0].functions = (0..500)
            .map(|i| isobox_capabilities::Function { method: format!("tool{i}"), ..shop()[0].functions[0].clone() })
            .collect();
        many.extend(shop());
        many[1].global = "shop2".into();
        let overview = super::search(&many, None, 600);
        assert!(overview.len() <= 600, "{} bytes: {overview}", overview.len());
        assert!(
            overview.contains("// shop (500 functions): tool0, tool1,") && overview.contains(" more\n"),
            "{overview}"
        );
        assert!(overview.contains("// shop2 (5 functions): get* 2, list* 3"), "{overview}");
    }

    #[test]
    fn a_query_ranks_the_matching_functions_with_the_types_they_use() {
        let found = search(&shop(), Some("one order by id"));
        let first = found.lines().nth(2).unwrap_or("");
        assert!(first.contains("One order; fails if there is none with this id."), "{found}");
        assert!(found.contains("getOrder(id: number): Promise<Order>;"), "{found}");
        assert!(found.contains("type Order = {") && found.contains("type OrderLine = {"), "{found}");
        // Everything that matches a word comes after, best first.
        let order = found.find("getOrder(").unwrap();
        assert!(found.find("getCustomer(").is_none_or(|at| at > order), "{found}");
    }

    #[test]
    fn words_are_stemmed_and_split() {
        assert_eq!(words("listPullRequests of the repository"), ["list", "pull", "request", "repo"]);
        assert_eq!(words("pulls/list-reviews issue_number"), ["pull", "list", "review", "issue", "number"]);
        let by_name = search(&shop(), Some("list customers"));
        assert!(by_name.lines().nth(2).unwrap_or("").contains("listCustomers") || by_name.contains("  listCustomers("));
    }

    #[test]
    fn no_match_says_so_in_a_comment() {
        let found = search(&shop(), Some("weather forecast"));
        assert!(found.starts_with("// No function matches `weather forecast`"), "{found}");
    }
}
