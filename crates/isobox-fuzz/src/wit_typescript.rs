//! The WIT → TypeScript generator on valid WIT built from the fuzz bytes: interfaces with records, variants, enums,
//! flags, aliases, options, lists, tuples and results, doc comments of any text (`*/` included), and names that
//! collide once camel-cased.
//!
//! Properties: no panic; the declarations are TypeScript that declares and does nothing else (isobox's own eraser
//! erases all of it, so no doc comment broke out of its `/** */`); every function is declared, as a method of its
//! capability's global; no two of the names the declarations introduce in one scope (methods, parameters, fields,
//! types) are the same unless they are the same thing.

use std::collections::BTreeMap;
use std::fmt::Write;

use arbitrary::{Result, Unstructured};
use isobox_capabilities::types::ValueType;
use isobox_capabilities::{Capabilities, Capability, Interface};
use serde_json::Value;

/// Words of kebab-case names: some collide once camel-cased (`a-b` and `a-B` are both `aB`), some are WIT keywords.
const WORDS: [&str; 14] =
    ["a", "b", "B", "HTTP", "http", "get", "list", "item", "type", "record", "ok", "tag", "x1", "z"];

/// Text that has a meaning in a TypeScript comment or declaration.
const ODD: [&str; 16] =
    ["*/", "/*", "/**", " * ", "*", "/", "`", "\"", "\\", "\r", "\u{2028}", "\u{2029}", "${", "};", "\t", "@param"];

const PRIMITIVES: [&str; 13] =
    ["bool", "u8", "u16", "u32", "u64", "s8", "s16", "s32", "s64", "f32", "f64", "char", "string"];

/// The `wit_typescript` target: `data` is WIT text (when it starts with `package `) or the choices that build a
/// package. Panics when one of this module's properties fails.
pub fn wit_typescript(data: &[u8]) {
    // WIT text as it is (a seed such as `wit/shop.wit`, and what the fuzzer makes of it), or WIT built from the bytes.
    if data.starts_with(b"package ") {
        let text = String::from_utf8_lossy(data);
        if let Ok(interfaces) = isobox_capabilities::parse_str("fuzzed.wit", &text) {
            check(&text, &interfaces.into_iter().map(|interface| interface.name).collect::<Vec<_>>());
        }
        return;
    }
    let Ok(wit) = wit_package(&mut Unstructured::new(data)) else { return };
    check(&wit.text, &wit.interfaces);
}

/// A WIT package as text, and the names of its interfaces.
#[derive(Debug)]
pub struct WitPackage {
    /// The package's WIT source, which parses.
    pub text: String,
    /// The names of the interfaces it declares, in order.
    pub interfaces: Vec<String>,
}

/// A valid WIT package built from the fuzz bytes in `u`: one to three interfaces with types, functions and doc
/// comments of any text.
///
/// # Errors
/// The bytes ran out before the package was complete.
pub fn wit_package(u: &mut Unstructured) -> Result<WitPackage> {
    let mut text = String::from("package fuzz:generated;\n");
    let mut interfaces = Vec::new();
    for _ in 0..u.int_in_range(1..=3)? {
        let interface = name(u)?;
        docs(u, &mut text, "")?;
        writeln!(text, "interface %{interface} {{").unwrap();
        let mut types: Vec<String> = Vec::new();
        for _ in 0..u.int_in_range(0..=4)? {
            let type_name = name(u)?;
            docs(u, &mut text, "    ")?;
            match u.int_in_range(0..=4)? {
                0 => {
                    let mut body = Vec::new();
                    for _ in 0..u.int_in_range(1..=3)? {
                        let mut field = String::new();
                        docs(u, &mut field, "        ")?;
                        write!(field, "        %{}: {}", name(u)?, ty(u, &types, 2)?).unwrap();
                        body.push(field);
                    }
                    writeln!(text, "    record %{type_name} {{\n{}\n    }}", body.join(",\n")).unwrap();
                }
                1 => {
                    let mut cases = Vec::new();
                    for _ in 0..u.int_in_range(1..=3)? {
                        let mut case = String::new();
                        docs(u, &mut case, "        ")?;
                        write!(case, "        %{}", name(u)?).unwrap();
                        if u.arbitrary()? {
                            write!(case, "({})", ty(u, &types, 2)?).unwrap();
                        }
                        cases.push(case);
                    }
                    writeln!(text, "    variant %{type_name} {{\n{}\n    }}", cases.join(",\n")).unwrap();
                }
                2 => writeln!(text, "    enum %{type_name} {{ {} }}", names(u, 1)?).unwrap(),
                3 => writeln!(text, "    flags %{type_name} {{ {} }}", names(u, 0)?).unwrap(),
                _ => writeln!(text, "    type %{type_name} = {};", ty(u, &types, 2)?).unwrap(),
            }
            types.push(type_name);
        }
        for _ in 0..u.int_in_range(1..=4)? {
            docs(u, &mut text, "    ")?;
            let params = (0..u.int_in_range(0..=3)?)
                .map(|_| Ok(format!("%{}: {}", name(u)?, ty(u, &types, 3)?)))
                .collect::<Result<Vec<_>>>()?;
            let result = if u.arbitrary()? { format!(" -> {}", ty(u, &types, 3)?) } else { String::new() };
            writeln!(text, "    %{}: func({}){result};", name(u)?, params.join(", ")).unwrap();
        }
        text.push_str("}\n");
        interfaces.push(interface);
    }
    Ok(WitPackage { text, interfaces })
}

fn name(u: &mut Unstructured) -> Result<String> {
    let words = (0..u.int_in_range(1..=2)?).map(|_| u.choose(&WORDS).copied()).collect::<Result<Vec<_>>>()?;
    Ok(words.join("-"))
}

fn names(u: &mut Unstructured, min: usize) -> Result<String> {
    let names = (0..u.int_in_range(min..=3)?).map(|_| Ok(format!("%{}", name(u)?))).collect::<Result<Vec<_>>>()?;
    Ok(names.join(", "))
}

fn ty(u: &mut Unstructured, defined: &[String], depth: u32) -> Result<String> {
    let choice = if depth == 0 { u.int_in_range(0..=1)? } else { u.int_in_range(0..=6)? };
    Ok(match choice {
        0 => u.choose(&PRIMITIVES)?.to_string(),
        1 if !defined.is_empty() => format!("%{}", u.choose(defined)?),
        1 => "string".into(),
        2 => format!("list<{}>", ty(u, defined, depth - 1)?),
        3 => format!("option<{}>", ty(u, defined, depth - 1)?),
        4 => match u.int_in_range(0..=3)? {
            0 => "result".into(),
            1 => format!("result<{}>", ty(u, defined, depth - 1)?),
            2 => format!("result<_, {}>", ty(u, defined, depth - 1)?),
            _ => format!("result<{}, {}>", ty(u, defined, depth - 1)?, ty(u, defined, depth - 1)?),
        },
        5 => {
            let types = (0..u.int_in_range(1..=3)?).map(|_| ty(u, defined, depth - 1)).collect::<Result<Vec<_>>>()?;
            format!("tuple<{}>", types.join(", "))
        }
        _ => u.choose(&PRIMITIVES)?.to_string(),
    })
}

/// `///` lines of any text but a line break.
fn docs(u: &mut Unstructured, out: &mut String, indent: &str) -> Result<()> {
    if !u.ratio(1, 3)? {
        return Ok(());
    }
    for _ in 0..u.int_in_range(1..=3)? {
        let line = odd_text(u)?;
        writeln!(out, "{indent}/// {}", line.replace('\n', " ")).unwrap();
    }
    Ok(())
}

/// Up to four pieces of text, each either one that means something in a TypeScript comment or string, or a few
/// arbitrary characters.
pub(crate) fn odd_text(u: &mut Unstructured) -> Result<String> {
    let mut text = String::new();
    for _ in 0..u.int_in_range(0..=4)? {
        if u.arbitrary()? {
            text.push_str(u.choose(&ODD)?);
        } else {
            text.extend(u.arbitrary::<String>()?.chars().take(12));
        }
    }
    Ok(text)
}

/// Checks the declarations of the interfaces of `wit` that isobox accepts.
pub fn check(wit: &str, names: &[String]) {
    let mut capabilities = Capabilities::new();
    let mut interfaces: Vec<Interface> = Vec::new();
    for name in names {
        // Invalid WIT (two definitions of one name, say) and WIT isobox refuses are errors, not findings.
        let Ok(capability) = Capability::from_wit("generated.wit", wit, name) else { return };
        let declared: Vec<String> = capability.interface().functions.iter().map(|f| f.name.clone()).collect();
        let capability = declared.iter().fold(capability, |capability, function| {
            capability.func(function, |_, _: Value| async { Ok::<_, isobox_capabilities::CallError>(Value::Null) })
        });
        interfaces.push(capability.interface().clone());
        if capabilities.register(capability).is_err() {
            // Two interfaces with one global (`a-b` and `a-B`), or one type name declared differently by two:
            // refused, as it must be.
            return;
        }
    }
    let grants: Vec<&str> = interfaces.iter().map(|interface| interface.name.as_str()).collect();
    let declarations = capabilities.typescript(&grants).expect("every grant is registered");

    assert_only_declares(&declarations, wit);

    // Across the granted interfaces, a type name has one declaration (the TypeScript declares each name once).
    let mut declared = BTreeMap::new();
    for interface in &interfaces {
        for (name, declaration) in isobox_capabilities::type_declarations(&interface.functions) {
            let previous = declared.entry(name.clone()).or_insert_with(|| declaration.clone());
            assert!(*previous == declaration, "two granted interfaces declare `{name}` differently:\n{wit}");
        }
    }

    for interface in &interfaces {
        // Types by value, one interface at a time (`u8` and `u32` fields may be one declaration, `number`).
        let mut named: BTreeMap<String, ValueType> = BTreeMap::new();
        let block = declaration_block(&declarations, &interface.global);
        let mut methods = std::collections::BTreeSet::new();
        for function in &interface.functions {
            assert!(methods.insert(&function.method), "two functions are both `{}`:\n{wit}", function.method);
            assert!(
                block.lines().any(|line| line.trim_start().starts_with(&format!("{}(", function.method))),
                "`{}` is not declared in `{}`:\n{declarations}",
                function.method,
                interface.global
            );
            let mut params = std::collections::BTreeSet::new();
            for param in &function.params {
                assert!(params.insert(&param.name), "two parameters are both `{}`:\n{wit}", param.name);
            }
            for ty in function.params.iter().map(|param| &param.ty).chain(&function.result) {
                collect_named(ty, &mut named, wit);
            }
        }
        for name in named.keys() {
            let declared = format!("type {name} = ");
            assert_eq!(
                declarations.lines().filter(|line| line.starts_with(&declared)).count(),
                1,
                "`{name}` is not declared once:\n{declarations}"
            );
        }
    }
}

/// TypeScript that only declares: erased, nothing is left but whitespace and the `;` that stand for declarations.
/// `source` is what the declarations were made from, for the message.
pub(crate) fn assert_only_declares(declarations: &str, source: &str) {
    match isobox_typescript::strip_types(declarations) {
        Ok(javascript) => assert!(
            only_comments(&javascript),
            "code outside the declarations:\n{source}\n->\n{declarations}\n->\n{javascript}"
        ),
        Err(error) => panic!("the declarations do not parse: {error}\n{source}\n->\n{declarations}"),
    }
}

/// Whether `javascript` is whitespace, `;` and block comments, and nothing else.
fn only_comments(javascript: &str) -> bool {
    let mut rest = javascript;
    loop {
        // JavaScript's whitespace is Unicode's and U+FEFF.
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}' || c == ';');
        if rest.is_empty() {
            return true;
        }
        let Some(end) = rest.strip_prefix("/*").and_then(|comment| comment.find("*/")) else { return false };
        rest = &rest[2 + end + 2..];
    }
}

/// The lines of `declare const GLOBAL: { … };`.
pub(crate) fn declaration_block<'a>(declarations: &'a str, global: &str) -> &'a str {
    let start = declarations
        .find(&format!("declare const {global}: {{\n"))
        .unwrap_or_else(|| panic!("`{global}` is not declared:\n{declarations}"));
    let end = declarations[start..].find("\n};\n").map_or(declarations.len(), |end| start + end);
    &declarations[start..end]
}

/// Every named type `ty` uses, by its TypeScript name; two different types must not share a name, nor two fields
/// of one record theirs.
fn collect_named(ty: &ValueType, named: &mut BTreeMap<String, ValueType>, wit: &str) {
    let add = |name: &str, named: &mut BTreeMap<String, ValueType>| {
        let previous = named.entry(name.to_string()).or_insert_with(|| ty.clone());
        assert!(previous == ty, "two different types are both `{name}`:\n{wit}");
    };
    match ty {
        ValueType::List(inner) | ValueType::Option(inner) => collect_named(inner, named, wit),
        ValueType::Result { ok, err } => ok.iter().chain(err).for_each(|ty| collect_named(ty, named, wit)),
        ValueType::Tuple(types) => types.iter().for_each(|ty| collect_named(ty, named, wit)),
        ValueType::Record(record) => {
            add(&record.name, named);
            let mut fields = std::collections::BTreeSet::new();
            for field in &record.body {
                assert!(
                    fields.insert(&field.name),
                    "two fields of `{}` are both `{}`:\n{wit}",
                    record.name,
                    field.name
                );
                collect_named(&field.ty, named, wit);
            }
        }
        ValueType::Variant(variant) => {
            add(&variant.name, named);
            variant.body.iter().filter_map(|case| case.ty.as_ref()).for_each(|ty| collect_named(ty, named, wit));
        }
        ValueType::Enum(named_type) | ValueType::Flags(named_type) => add(&named_type.name, named),
        _ => {}
    }
}
