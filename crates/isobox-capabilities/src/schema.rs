//! JSON Schema (as MCP tools and OpenAPI documents write it) to [`ValueType`]: the checks every argument passes and
//! the TypeScript a model reads.
//!
//! Covered: `type` (one or a list), OpenAPI 3.0's `nullable`, `enum`, `const`, `properties` with `required`,
//! `additionalProperties`, `items`, `anyOf`/`oneOf` (a union), `allOf` of objects (merged), local `$ref`s (`#/...`,
//! each becoming a named type declared once; a reference back into a schema being converted becomes a
//! [`ValueType::Ref`]), `description`. Anything else (formats, patterns, bounds, external references) is not checked
//! and reads as the nearest type above. A document is hostile input: nesting, references followed and the schemas
//! converted are all bounded, and past a bound the type is `unknown`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::names::pascal_case;
use crate::types::{MAX_SAFE_INTEGER, Named, Object, Property, ValueType};

/// Schemas nested inside one another (through references too) beyond which a type reads as `unknown`.
const MAX_DEPTH: usize = 64;
/// Schemas converted per converter, beyond which every type reads as `unknown`.
const MAX_SCHEMAS: usize = 500_000;
/// Members of one union (`enum` values and `anyOf` alternatives), beyond which it reads as `unknown`.
const MAX_UNION_MEMBERS: usize = 65_536;
/// Members of one union that are schemas rather than literals, beyond which it reads as `unknown`.
const MAX_UNION_SCHEMAS: usize = 1_024;
/// Documentation kept per type or property, in bytes.
const MAX_DOCS_BYTES: usize = 400;

/// Names a TypeScript declaration must not take: the globals of TypeScript's standard library that programs use.
const RESERVED: &[&str] = &[
    "Array",
    "ArrayBuffer",
    "BigInt",
    "Boolean",
    "DataView",
    "Date",
    "Error",
    "EvalError",
    "Function",
    "Infinity",
    "JSON",
    "Map",
    "Math",
    "NaN",
    "Number",
    "Object",
    "Partial",
    "Pick",
    "Omit",
    "Promise",
    "Proxy",
    "RangeError",
    "Readonly",
    "Record",
    "ReferenceError",
    "Reflect",
    "RegExp",
    "Required",
    "Set",
    "String",
    "Symbol",
    "SyntaxError",
    "TypeError",
    "URIError",
    "WeakMap",
    "WeakSet",
    "Uint8Array",
    "Exclude",
    "Extract",
    "NonNullable",
    "Parameters",
    "ReturnType",
    "Awaited",
    "Iterable",
    "Iterator",
    "PromiseLike",
    "Console",
    "Atomics",
    "Intl",
];

/// Converts the schemas of one document, resolving its `$ref`s against `root`. Types referenced from many places are
/// converted once and shared; type names are unique within one converter.
pub struct SchemaConverter<'a> {
    root: &'a Value,
    /// Converted references, by their pointer.
    done: HashMap<String, ValueType>,
    /// References being converted (the way back to a cycle), with their names.
    open: HashMap<String, String>,
    taken: HashSet<String>,
    depth: usize,
    converted: usize,
}

impl std::fmt::Debug for SchemaConverter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchemaConverter")
            .field("references_converted", &self.done.len())
            .field("schemas_converted", &self.converted)
            .finish_non_exhaustive()
    }
}

impl<'a> SchemaConverter<'a> {
    /// A converter for schemas inside `root` (an OpenAPI document, or an MCP tool's `inputSchema`).
    pub fn new(root: &'a Value) -> Self {
        Self { root, done: HashMap::new(), open: HashMap::new(), taken: HashSet::new(), depth: 0, converted: 0 }
    }

    /// Reserves `name`, so that no converted type takes it (names of types declared beside the converted ones).
    pub fn reserve(&mut self, name: &str) {
        self.taken.insert(name.to_string());
    }

    /// The type of `schema`.
    pub fn convert(&mut self, schema: &Value) -> ValueType {
        if self.depth >= MAX_DEPTH || self.converted >= MAX_SCHEMAS {
            return ValueType::Any;
        }
        self.depth += 1;
        self.converted += 1;
        let ty = self.convert_inner(schema);
        self.depth -= 1;
        ty
    }

    /// The documentation of `schema`: its `description`, else its `title`, cut to a readable length.
    pub fn docs(schema: &Value) -> Option<String> {
        let text = schema.get("description").or_else(|| schema.get("title")).and_then(Value::as_str)?.trim();
        (!text.is_empty()).then(|| isobox_core::output::shorten(text, MAX_DOCS_BYTES))
    }

    fn convert_inner(&mut self, schema: &Value) -> ValueType {
        let Some(schema) = schema.as_object() else {
            // `true`, `false`, or not a schema at all.
            return ValueType::Any;
        };
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            return self.reference(reference);
        }
        let ty = self.without_null(schema);
        let nullable = schema.get("nullable").and_then(Value::as_bool) == Some(true);
        if nullable && !matches!(ty, ValueType::Any | ValueType::Null) { union(vec![ty, ValueType::Null]) } else { ty }
    }

    fn without_null(&mut self, schema: &Map<String, Value>) -> ValueType {
        if let Some(value) = schema.get("const") {
            return ValueType::Literal(value.clone());
        }
        if let Some(values) = schema.get("enum").and_then(Value::as_array) {
            return union(values.iter().map(|value| ValueType::Literal(value.clone())).collect());
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(schemas) = schema.get(key).and_then(Value::as_array) {
                let types = schemas.iter().map(|schema| self.convert(schema)).collect();
                return union(types);
            }
        }
        if let Some(schemas) = schema.get("allOf").and_then(Value::as_array) {
            return self.all_of(schemas, schema);
        }
        match schema.get("type") {
            Some(Value::String(name)) => self.typed(name, schema),
            Some(Value::Array(names)) => {
                let types = names.iter().filter_map(Value::as_str).map(|name| self.typed(name, schema)).collect();
                union(types)
            }
            _ if schema.contains_key("properties") || schema.contains_key("additionalProperties") => {
                self.object(schema)
            }
            _ if schema.contains_key("items") => self.typed("array", schema),
            _ => ValueType::Any,
        }
    }

    fn typed(&mut self, name: &str, schema: &Map<String, Value>) -> ValueType {
        match name {
            "string" => ValueType::String,
            "integer" => ValueType::Integer { min: -MAX_SAFE_INTEGER, max: MAX_SAFE_INTEGER, wit: "integer" },
            "number" => ValueType::Float { wit: "number" },
            "boolean" => ValueType::Bool,
            "null" => ValueType::Null,
            "array" => {
                ValueType::List(Box::new(schema.get("items").map_or(ValueType::Any, |items| self.convert(items))))
            }
            "object" => self.object(schema),
            _ => ValueType::Any,
        }
    }

    fn object(&mut self, schema: &Map<String, Value>) -> ValueType {
        let required: HashSet<&str> =
            schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
        let properties = schema
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(name, property)| Property {
                name: name.clone(),
                docs: Self::docs(property),
                ty: self.convert(property),
                required: required.contains(name.as_str()),
            })
            .collect();
        let additional = match schema.get("additionalProperties") {
            Some(Value::Bool(false)) => None,
            None | Some(Value::Bool(true)) => Some(Box::new(ValueType::Any)),
            Some(other) => Some(Box::new(self.convert(other))),
        };
        ValueType::Object(Arc::new(Object { properties, additional }))
    }

    /// `allOf`: the properties of every part, when every part is an object; else the first part's type.
    fn all_of(&mut self, schemas: &[Value], schema: &Map<String, Value>) -> ValueType {
        let mut parts: Vec<ValueType> = schemas.iter().map(|schema| self.convert(schema)).collect();
        if schema.contains_key("properties") {
            parts.push(self.object(schema));
        }
        let mut merged = Object { properties: Vec::new(), additional: Some(Box::new(ValueType::Any)) };
        for part in &parts {
            let Some(object) = as_object(part) else {
                return parts.into_iter().next().unwrap_or(ValueType::Any);
            };
            for property in &object.properties {
                match merged.properties.iter_mut().find(|known| known.name == property.name) {
                    Some(known) => known.required |= property.required,
                    None => merged.properties.push(property.clone()),
                }
            }
            // A part closed to other properties: what the parts list is allowed, and nothing else.
            if object.additional.is_none() {
                merged.additional = None;
            }
        }
        ValueType::Object(Arc::new(merged))
    }

    fn reference(&mut self, reference: &str) -> ValueType {
        if let Some(ty) = self.done.get(reference) {
            return ty.clone();
        }
        if let Some(name) = self.open.get(reference) {
            return ValueType::Ref(name.clone());
        }
        let Some(target) = reference.strip_prefix('#').and_then(|pointer| self.root.pointer(pointer)) else {
            // Another document, or nothing: unchecked.
            return ValueType::Any;
        };
        let name = self.name_for(reference);
        self.open.insert(reference.to_string(), name.clone());
        let body = self.convert(target);
        self.open.remove(reference);
        let ty = ValueType::Alias(Arc::new(Named { name, docs: Self::docs(target), body }));
        self.done.insert(reference.to_string(), ty.clone());
        ty
    }

    /// `#/components/schemas/pull-request` → `PullRequest`, unique within this converter.
    fn name_for(&mut self, reference: &str) -> String {
        let last = reference.rsplit('/').next().unwrap_or("").replace("~1", "/").replace("~0", "~");
        let words: String = last.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect::<String>();
        let words: Vec<&str> = words.split('-').filter(|word| !word.is_empty()).collect();
        let mut base = pascal_case(&words.join("-"));
        if base.is_empty() || base.starts_with(|c: char| c.is_ascii_digit()) {
            base.insert(0, 'T');
        }
        if RESERVED.contains(&base.as_str()) {
            base.push_str("Type");
        }
        let mut name = base.clone();
        let mut counter = 2;
        while self.taken.contains(&name) {
            name = format!("{base}{counter}");
            counter += 1;
        }
        self.taken.insert(name.clone());
        name
    }
}

fn as_object(ty: &ValueType) -> Option<&Object> {
    match ty {
        ValueType::Object(object) => Some(object),
        ValueType::Alias(alias) => as_object(&alias.body),
        _ => None,
    }
}

/// One type for several: nested unions flattened, repeats dropped, `unknown` absorbing the rest (and standing for a
/// union past [`MAX_UNION_MEMBERS`], or past [`MAX_UNION_SCHEMAS`] members that are not literals).
fn union(types: Vec<ValueType>) -> ValueType {
    let mut flat: Vec<ValueType> = Vec::with_capacity(types.len());
    // Literals (an `enum` of thousands of values) are told apart by their JSON text; the other members, few, by
    // comparing them.
    let mut literals = HashSet::new();
    let mut schemas = 0;
    for ty in types {
        let members = match ty {
            ValueType::Union(members) => members,
            ValueType::Any => return ValueType::Any,
            other => vec![other],
        };
        for member in members {
            let new = match &member {
                ValueType::Literal(value) => literals.insert(value.to_string()),
                _ if flat.contains(&member) => false,
                _ => {
                    schemas += 1;
                    true
                }
            };
            if new {
                flat.push(member);
            }
            if flat.len() > MAX_UNION_MEMBERS || schemas > MAX_UNION_SCHEMAS {
                return ValueType::Any;
            }
        }
    }
    match flat.len() {
        0 => ValueType::Any,
        1 => flat.pop().expect("one type"),
        _ => ValueType::Union(flat),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::typescript::type_expr;

    fn convert(schema: Value) -> ValueType {
        SchemaConverter::new(&schema).convert(&schema)
    }

    #[test]
    fn objects_with_required_and_optional_properties() {
        let ty = convert(json!({
            "type": "object",
            "properties": { "name": { "type": "string", "description": "Who." }, "age": { "type": "integer" },
                            "odd-name": { "type": ["string", "null"] } },
            "required": ["name"],
            "additionalProperties": false
        }));
        assert_eq!(type_expr(&ty), r#"{ age?: number; /** Who. */ name: string; "odd-name"?: string | null }"#);
        assert!(ty.check(&json!({"name": "a", "age": 3})).is_ok());
        assert!(ty.check(&json!({"name": "a", "odd-name": null})).is_ok());
        let missing = ty.check(&json!({"age": 3})).unwrap_err();
        assert_eq!((missing.path.as_str(), missing.expected.as_str()), (".name", "string"));
        let wrong = ty.check(&json!({"name": "a", "age": 1.5})).unwrap_err();
        assert_eq!(wrong.path, ".age");
        let extra = ty.check(&json!({"name": "a", "nmae": 1})).unwrap_err();
        assert_eq!(extra.path, ".nmae");
        assert!(extra.expected.contains("no such property"), "{extra:?}");
        let odd = ty.check(&json!({"name": "a", "odd-name": 1})).unwrap_err();
        assert_eq!(odd.path, r#"["odd-name"]"#);
    }

    #[test]
    fn enums_consts_unions_nullable_and_maps() {
        let ty = convert(json!({ "enum": ["open", "closed", "all"] }));
        assert_eq!(type_expr(&ty), r#""open" | "closed" | "all""#);
        assert!(ty.check(&json!("open")).is_ok() && ty.check(&json!("merged")).is_err());
        let nullable = convert(json!({ "type": "string", "nullable": true }));
        assert_eq!(type_expr(&nullable), "string | null");
        let any_of =
            convert(json!({ "anyOf": [{ "type": "integer" }, { "type": "array", "items": { "type": "string" } }] }));
        assert_eq!(type_expr(&any_of), "number | string[]");
        // Inside the one alternative of its kind, the failing place is named.
        let inner = any_of.check(&json!(["a", 2])).unwrap_err();
        assert_eq!(inner.path, "[1]");
        let map = convert(json!({ "type": "object", "additionalProperties": { "type": "integer" } }));
        assert_eq!(type_expr(&map), "Record<string, number>");
        assert!(map.check(&json!({"a": 1})).is_ok() && map.check(&json!({"a": "x"})).is_err());
        assert_eq!(type_expr(&convert(json!({}))), "unknown");
        assert_eq!(type_expr(&convert(json!({ "const": "a\"b" }))), r#""a\"b""#);
        let list_of_union = ValueType::List(Box::new(convert(json!({ "type": ["string", "integer"] }))));
        assert_eq!(type_expr(&list_of_union), "(string | number)[]");
    }

    #[test]
    fn references_become_named_types_declared_once_and_cycles_are_cut() {
        let document = json!({
            "components": { "schemas": {
                "simple-user": { "type": "object", "description": "A user.", "properties": { "login": { "type": "string" } }, "required": ["login"] },
                "node": { "type": "object", "properties": { "children": { "type": "array", "items": { "$ref": "#/components/schemas/node" } } } },
                "Error": { "type": "string" }
            } },
            "schema": { "type": "object", "properties": {
                "owner": { "$ref": "#/components/schemas/simple-user" },
                "author": { "$ref": "#/components/schemas/simple-user" },
                "tree": { "$ref": "#/components/schemas/node" },
                "error": { "$ref": "#/components/schemas/Error" },
                "elsewhere": { "$ref": "other.json#/x" }
            } }
        });
        let mut converter = SchemaConverter::new(&document);
        let ty = converter.convert(&document["schema"]);
        assert_eq!(
            type_expr(&ty),
            "{ author?: SimpleUser; elsewhere?: unknown; error?: ErrorType; owner?: SimpleUser; tree?: Node }"
        );
        let function = crate::Function {
            name: "f".into(),
            method: "f".into(),
            docs: None,
            params: vec![crate::Param { name: "x".into(), ty: ty.clone() }],
            result: None,
        };
        let interface =
            crate::Interface { name: "t".into(), global: "t".into(), docs: None, functions: vec![function] };
        let declared = crate::declarations([&interface]);
        assert!(declared.contains("/** A user. */\ntype SimpleUser = { login: string };\n"), "{declared}");
        assert!(declared.contains("type Node = { children?: Node[] };\n"), "{declared}");
        assert_eq!(declared.matches("type SimpleUser").count(), 1);
        assert!(ty.check(&json!({"owner": {"login": "a"}, "tree": {"children": [{"children": []}]}})).is_ok());
        let error = ty.check(&json!({"author": {"login": 1}})).unwrap_err();
        assert_eq!(error.path, ".author.login");
    }

    #[test]
    fn all_of_merges_object_parts() {
        let document = json!({
            "$defs": { "base": { "type": "object", "properties": { "id": { "type": "integer" } }, "required": ["id"] } },
            "allOf": [{ "$ref": "#/$defs/base" }, { "type": "object", "properties": { "name": { "type": "string" } } }]
        });
        let ty = SchemaConverter::new(&document).convert(&document);
        assert_eq!(type_expr(&ty), "{ id: number; name?: string }");
    }

    #[test]
    fn hostile_documents_are_bounded() {
        // A chain of references deeper than the bound, and a schema nested as deep as JSON parsing allows.
        let mut defs = Map::new();
        for i in 0..10_000 {
            defs.insert(
                format!("t{i}"),
                json!({ "type": "array", "items": { "$ref": format!("#/$defs/t{}", i + 1) } }),
            );
        }
        let document = json!({ "$defs": defs, "$ref": "#/$defs/t0" });
        let ty = SchemaConverter::new(&document).convert(&document);
        assert!(ty.check(&json!([[[]]])).is_ok());
        let mut nested = json!({ "type": "string" });
        for _ in 0..120 {
            nested = json!({ "type": "array", "items": nested });
        }
        let ty = convert(nested);
        assert!(type_expr(&ty).contains("unknown"));
        // Names stay unique and are never TypeScript's own.
        let document = json!({ "$defs": { "a-b": {}, "a_b": {}, "Promise": {}, "1st": {} }, "type": "object", "properties": {
            "x": { "$ref": "#/$defs/a-b" }, "y": { "$ref": "#/$defs/a_b" }, "z": { "$ref": "#/$defs/Promise" }, "w": { "$ref": "#/$defs/1st" } } });
        let ty = SchemaConverter::new(&document).convert(&document);
        assert_eq!(type_expr(&ty), "{ w?: T1st; x?: AB; y?: AB2; z?: PromiseType }");
    }

    #[test]
    fn alternatives_nested_deep_cannot_make_a_check_exponential() {
        // Each of 12 levels offers 8 objects that all hold the next level: trying alternatives one by one would take
        // 8^12 steps for a value that fails at the bottom. Such a check must end, refusing the value.
        let mut defs = Map::new();
        for i in 0..12 {
            let next =
                if i == 11 { json!({ "type": "string" }) } else { json!({ "$ref": format!("#/$defs/l{}", i + 1) }) };
            let alternatives: Vec<Value> = (0..8)
                .map(|j| json!({ "type": "object", "properties": { "x": next, format!("p{j}"): {} }, "required": ["x"] }))
                .collect();
            defs.insert(format!("l{i}"), json!({ "anyOf": alternatives }));
        }
        let document = json!({ "$defs": defs, "$ref": "#/$defs/l0" });
        let ty = SchemaConverter::new(&document).convert(&document);
        let deep = |leaf: Value| (0..12).fold(leaf, |inner, _| json!({ "x": inner }));
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let wrong = ty.check(&deep(json!(1)));
            let right = ty.check(&deep(json!("s")));
            let mut value = deep(json!(1));
            ty.integers_as_integers(&mut value);
            sender.send((wrong, right)).unwrap();
        });
        let (wrong, right) = receiver.recv_timeout(std::time::Duration::from_secs(120)).expect("the check ended");
        let wrong = wrong.unwrap_err();
        assert!(wrong.expected.contains("too many to try"), "{wrong:?}");
        // A value that fits the first alternative at every level is found at once.
        assert!(right.is_ok(), "{right:?}");
        // Shallow values of the same type are still checked exactly, with the failing place named.
        let shallow = SchemaConverter::new(&document).convert(&json!({ "$ref": "#/$defs/l10" }));
        assert!(shallow.check(&json!({ "x": { "x": "s" } })).is_ok());
        let error = shallow.check(&json!({ "x": { "x": 1 } })).unwrap_err();
        assert!(error.expected.contains("x: L11") && !error.expected.contains("too many"), "{error:?}");
    }

    #[test]
    fn large_enums_are_kept_and_huge_unions_read_as_unknown() {
        let values: Vec<Value> = (0..50_000).map(|i| json!(format!("v{i}"))).collect();
        let ty = convert(json!({ "enum": values }));
        assert!(ty.check(&json!("v49999")).is_ok() && ty.check(&json!("w")).is_err());
        let values: Vec<Value> = (0..70_000).map(|i| json!(i)).collect();
        assert_eq!(convert(json!({ "enum": values })), ValueType::Any);
        let schemas: Vec<Value> =
            (0..2_000).map(|i| json!({ "type": "object", "properties": { format!("p{i}"): {} } })).collect();
        assert_eq!(convert(json!({ "anyOf": schemas })), ValueType::Any);
    }
}
