//! TypeScript declarations for granted capabilities: the API an LLM is prompted with. Compact on purpose: every byte
//! is context the model pays for.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write;

use crate::types::{Named, Object, ValueType};
use crate::wit::{Function, Interface};

/// Declarations for `interfaces`: one `declare const` per capability, then the named types they use.
pub fn declarations<'a>(interfaces: impl IntoIterator<Item = &'a Interface>) -> String {
    let mut out = String::new();
    let mut named = BTreeMap::new();
    for interface in interfaces {
        doc_comment(&mut out, "", interface.docs.as_deref());
        writeln!(out, "declare const {}: {{", interface.global).unwrap();
        for function in &interface.functions {
            doc_comment(&mut out, "  ", function.docs.as_deref());
            writeln!(out, "  {};", signature(function)).unwrap();
            for ty in function.params.iter().map(|param| &param.ty).chain(&function.result) {
                collect_named(ty, &mut named);
            }
        }
        out.push_str("};\n");
    }
    for declaration in named.values() {
        out.push_str(declaration);
    }
    out
}

/// `listOrders(customer: number, status: Status | null): Promise<Order[]>`
pub fn signature(function: &Function) -> String {
    let required = function.required_params();
    let params: Vec<String> = function
        .params
        .iter()
        .enumerate()
        .map(|(i, param)| format!("{}{}: {}", param.name, if i < required { "" } else { "?" }, type_expr(&param.ty)))
        .collect();
    let result = match &function.result {
        None | Some(ValueType::Result { ok: None, .. }) => "void".to_string(),
        Some(ValueType::Result { ok: Some(ok), .. }) => type_expr(ok),
        Some(ty) => type_expr(ty),
    };
    format!("{}({}): Promise<{result}>", function.method, params.join(", "))
}

/// A type as it appears inline: named types by their name.
pub fn type_expr(ty: &ValueType) -> String {
    match ty {
        ValueType::Bool => "boolean".into(),
        ValueType::Integer { .. } | ValueType::Float { .. } => "number".into(),
        ValueType::Char | ValueType::String => "string".into(),
        ValueType::List(item) => match item.as_ref() {
            ValueType::Option(_) | ValueType::Result { .. } | ValueType::Union(_) => format!("({})[]", type_expr(item)),
            ValueType::Declared(inner) if matches!(inner.as_ref(), ValueType::Union(_) | ValueType::Option(_)) => {
                format!("({})[]", type_expr(item))
            }
            item => format!("{}[]", type_expr(item)),
        },
        ValueType::Option(inner) => format!("{} | null", type_expr(inner)),
        ValueType::Result { ok, err } => {
            let side = |ty: &Option<Box<ValueType>>| ty.as_deref().map_or("null".to_string(), type_expr);
            format!("{{ ok: {} }} | {{ err: {} }}", side(ok), side(err))
        }
        ValueType::Tuple(types) => format!("[{}]", types.iter().map(type_expr).collect::<Vec<_>>().join(", ")),
        ValueType::Record(Named { name, .. })
        | ValueType::Variant(Named { name, .. })
        | ValueType::Enum(Named { name, .. })
        | ValueType::Flags(Named { name, .. }) => name.clone(),
        ValueType::Any => "unknown".into(),
        ValueType::Null => "null".into(),
        // JSON text is a TypeScript literal type, escapes and all.
        ValueType::Literal(value) => value.to_string(),
        ValueType::Union(types) => types.iter().map(type_expr).collect::<Vec<_>>().join(" | "),
        ValueType::Object(object) => object_expr(object),
        ValueType::Alias(alias) => alias.name.clone(),
        ValueType::Ref(name) => name.clone(),
        ValueType::Declared(inner) => type_expr(inner),
    }
}

/// `{ id: number; name?: string }`; `Record<string, T>` for a map.
fn object_expr(object: &Object) -> String {
    if object.properties.is_empty() {
        return match object.additional.as_deref() {
            Some(ty) => format!("Record<string, {}>", type_expr(ty)),
            None => "Record<string, never>".into(),
        };
    }
    let properties: Vec<String> = object
        .properties
        .iter()
        .map(|property| {
            let docs = property.docs.as_deref().map(|docs| format!("/** {} */ ", one_line(docs))).unwrap_or_default();
            let name = if is_identifier(&property.name) {
                property.name.clone()
            } else {
                serde_json::Value::String(property.name.clone()).to_string()
            };
            let optional = if property.required { "" } else { "?" };
            format!("{docs}{name}{optional}: {}", type_expr(&property.ty))
        })
        .collect();
    format!("{{ {} }}", properties.join("; "))
}

/// Whether `name` can be written bare as a property name or a type name.
pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

/// One function as written inside its capability's `declare const`: its doc comment and signature, indented.
pub fn function_declaration(function: &Function) -> String {
    let mut out = String::new();
    doc_comment(&mut out, "  ", function.docs.as_deref());
    writeln!(out, "  {};", signature(function)).unwrap();
    out
}

/// The named types `functions` use, each declared once as `(name, declaration)`, nearest first: those the signatures
/// name, then those their declarations name, and so on.
pub fn type_declarations<'a>(functions: impl IntoIterator<Item = &'a Function>) -> Vec<(String, String)> {
    let mut queue = std::collections::VecDeque::new();
    for function in functions {
        for ty in function.params.iter().map(|param| &param.ty).chain(&function.result) {
            direct_named(ty, &mut queue);
        }
    }
    let mut seen = std::collections::HashSet::new();
    let mut declared = Vec::new();
    while let Some(ty) = queue.pop_front() {
        let Some((name, declaration)) = declaration(ty) else { continue };
        if !seen.insert(name.clone()) {
            continue;
        }
        declared.push((name, declaration));
        named_children(ty, &mut queue);
    }
    declared
}

fn collect_named(ty: &ValueType, named: &mut BTreeMap<String, String>) {
    let mut queue = std::collections::VecDeque::new();
    direct_named(ty, &mut queue);
    while let Some(ty) = queue.pop_front() {
        let Some((name, declaration)) = declaration(ty) else { continue };
        // A large API uses one type in many places: each is declared, and walked, once.
        if named.contains_key(&name) {
            continue;
        }
        named.insert(name, declaration);
        named_children(ty, &mut queue);
    }
}

/// The named types `ty` uses without going through another named type.
fn direct_named<'a>(ty: &'a ValueType, out: &mut std::collections::VecDeque<&'a ValueType>) {
    match ty {
        ValueType::Record(_)
        | ValueType::Variant(_)
        | ValueType::Enum(_)
        | ValueType::Flags(_)
        | ValueType::Alias(_) => out.push_back(ty),
        ValueType::List(inner) | ValueType::Option(inner) | ValueType::Declared(inner) => direct_named(inner, out),
        ValueType::Result { ok, err } => ok.iter().chain(err).for_each(|ty| direct_named(ty, out)),
        ValueType::Tuple(types) | ValueType::Union(types) => types.iter().for_each(|ty| direct_named(ty, out)),
        ValueType::Object(object) => {
            object.properties.iter().for_each(|property| direct_named(&property.ty, out));
            object.additional.iter().for_each(|ty| direct_named(ty, out));
        }
        ValueType::Bool
        | ValueType::Integer { .. }
        | ValueType::Float { .. }
        | ValueType::Char
        | ValueType::String
        | ValueType::Any
        | ValueType::Null
        | ValueType::Literal(_)
        | ValueType::Ref(_) => {}
    }
}

/// The named types the declaration of named type `ty` uses directly.
fn named_children<'a>(ty: &'a ValueType, out: &mut std::collections::VecDeque<&'a ValueType>) {
    match ty {
        ValueType::Record(record) => record.body.iter().for_each(|field| direct_named(&field.ty, out)),
        ValueType::Variant(variant) => {
            variant.body.iter().filter_map(|case| case.ty.as_ref()).for_each(|ty| direct_named(ty, out))
        }
        ValueType::Alias(alias) => direct_named(&alias.body, out),
        _ => {}
    }
}

/// `type Name = …;` (with its doc comment) for a named type.
fn declaration(ty: &ValueType) -> Option<(String, String)> {
    let (name, docs, body) = match ty {
        ValueType::Record(record) => {
            let fields: Vec<String> = record
                .body
                .iter()
                .map(|field| {
                    let docs =
                        field.docs.as_deref().map(|docs| format!("/** {} */ ", one_line(docs))).unwrap_or_default();
                    // An `option` field may be left out, as the host reads a missing field as null.
                    let optional = if matches!(field.ty, ValueType::Option(_)) { "?" } else { "" };
                    format!("{docs}{}{optional}: {}", field.name, type_expr(&field.ty))
                })
                .collect();
            (&record.name, &record.docs, format!("{{ {} }}", fields.join("; ")))
        }
        ValueType::Variant(variant) => {
            let cases: Vec<String> = variant
                .body
                .iter()
                .map(|case| match &case.ty {
                    Some(ty) => format!("{{ tag: \"{}\"; val: {} }}", case.name, type_expr(ty)),
                    None => format!("{{ tag: \"{}\" }}", case.name),
                })
                .collect();
            (&variant.name, &variant.docs, cases.join(" | "))
        }
        ValueType::Enum(cases) => {
            let body = cases.body.iter().map(|case| format!("\"{case}\"")).collect::<Vec<_>>().join(" | ");
            (&cases.name, &cases.docs, body)
        }
        ValueType::Flags(flags) => {
            let body = flags.body.iter().map(|flag| format!("\"{flag}\"")).collect::<Vec<_>>().join(" | ");
            // No flags: the only value is the empty list.
            let body = if body.is_empty() { "never[]".to_string() } else { format!("({body})[]") };
            (&flags.name, &flags.docs, body)
        }
        ValueType::Alias(alias) => (&alias.name, &alias.docs, type_expr(&alias.body)),
        _ => return None,
    };
    let mut out = String::new();
    doc_comment(&mut out, "", docs.as_deref());
    writeln!(out, "type {name} = {body};").unwrap();
    Some((name.clone(), out))
}

fn doc_comment(out: &mut String, indent: &str, docs: Option<&str>) {
    let Some(docs) = docs.map(inert) else { return };
    if !docs.contains('\n') {
        writeln!(out, "{indent}/** {docs} */").unwrap();
        return;
    }
    writeln!(out, "{indent}/**").unwrap();
    for line in docs.lines() {
        writeln!(out, "{indent} * {}", line.trim_end()).unwrap();
    }
    writeln!(out, "{indent} */").unwrap();
}

fn one_line(docs: &str) -> String {
    inert(docs).split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Documentation text that cannot end the `/** */` comment it is written in.
fn inert(docs: &str) -> Cow<'_, str> {
    if docs.contains("*/") { Cow::Owned(docs.replace("*/", "*\\/")) } else { Cow::Borrowed(docs) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_globals_methods_docs_and_named_types() {
        let interfaces = crate::wit::parse_str(
            "t.wit",
            r#"
            package t:t;
            /// Things.
            interface things {
                /// A thing.
                record thing { id: u64, /// Its label.
                    label: option<string>, kind: kind, perms: perms, shape: shape, pair: tuple<string, bool> }
                enum kind { small, large }
                flags perms { read, write }
                flags none {}
                variant shape { dot, circle(f64) }
                /// Gets things.
                get-things: func(ids: list<u32>) -> result<list<thing>, string>;
                forget: func(who: option<string>, none: none);
            }
            "#,
        )
        .unwrap();
        let expected = r#"/** Things. */
declare const things: {
  /** Gets things. */
  getThings(ids: number[]): Promise<Thing[]>;
  forget(who: string | null, none: None): Promise<void>;
};
type Kind = "small" | "large";
type None = never[];
type Perms = ("read" | "write")[];
type Shape = { tag: "dot" } | { tag: "circle"; val: number };
/** A thing. */
type Thing = { id: number; /** Its label. */ label?: string | null; kind: Kind; perms: Perms; shape: Shape; pair: [string, boolean] };
"#;
        assert_eq!(declarations(&interfaces), expected);
    }

    #[test]
    fn documentation_cannot_end_its_comment() {
        let interfaces = crate::wit::parse_str(
            "t.wit",
            "package t:t; interface t {\n/// Ends */ here.\n/// Or */ here.\nrecord r { /// a */ b\n f: u8 }\n/// x */\nf: func(r: r); }",
        )
        .unwrap();
        let out = declarations(&interfaces);
        assert_eq!(out.matches("*/").count(), out.matches("/**").count(), "{out}");
        assert!(out.contains(" * Ends *\\/ here.\n") && out.contains("/** a *\\/ b */ f: number"), "{out}");
    }
}
