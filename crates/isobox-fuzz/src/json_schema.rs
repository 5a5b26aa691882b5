//! JSON Schema, as MCP tools declare their inputs and OpenAPI documents their parameters and bodies, to isobox's types
//! and TypeScript; and OpenAPI documents to a connector's functions.
//!
//! Input: JSON text as it is (a seed such as an OpenAPI document or a tool's `inputSchema`, and what the fuzzer makes
//! of it), or a document built from the bytes: nested objects, arrays, `anyOf`/`oneOf`/`allOf`, enums, consts,
//! `nullable`, `$ref`s into `$defs` (cycles, chains, references to nothing), property names and doc strings with
//! `*/`, quotes and line breaks; OpenAPI paths, operations, parameters and bodies with colliding names.
//!
//! Properties: no panic; conversion and checking take bounded work (libFuzzer's timeout finds the exponential); the
//! declarations are TypeScript that only declares, with every operation declared as a method of the connector's
//! global, each method once; the check accepts exactly what an independent checker accepts, unless it refuses the
//! value as too complex to check; an accepted value, its integers rewritten, still passes and fits strictly.

use std::collections::BTreeSet;

use arbitrary::{Result, Unstructured};
use isobox_capabilities::schema::SchemaConverter;
use isobox_capabilities::types::ValueType;
use isobox_capabilities::{Function, Interface, Param};
use isobox_connectors::OpenApi;
use serde_json::{Map, Value, json};

use crate::json::{any_value, fits, value_for};
use crate::wit_typescript::{assert_only_declares, declaration_block, odd_text as text};

/// Property, definition and parameter names: identifiers, names that are not, and names JavaScript treats specially.
const NAMES: [&str; 14] =
    ["a", "b", "id", "body", "x y", "a-b", "a_b", "__proto__", "constructor", "*/", "\"", "1st", "Promise", ""];

const PRIMITIVES: [&str; 7] = ["string", "integer", "number", "boolean", "null", "object", "array"];

/// The `json_schema` target: `data` is JSON text (when it starts with `{`) or the choices that build a document.
/// Panics when one of this module's properties fails.
pub fn json_schema(data: &[u8]) {
    if data.first() == Some(&b'{') {
        // A JSON document, and after it the bytes that choose the values to check.
        let mut documents = serde_json::Deserializer::from_slice(data).into_iter::<Value>();
        if let Some(Ok(document)) = documents.next() {
            check_document(&document, &mut Unstructured::new(&data[documents.byte_offset()..]));
        }
        return;
    }
    let mut u = Unstructured::new(data);
    let Ok(document) = document(&mut u) else { return };
    check_document(&document, &mut u);
}

/// A document from the bytes: an OpenAPI document, or a schema with `$defs`.
fn document(u: &mut Unstructured) -> Result<Value> {
    let defs = u.int_in_range(0..=4)?;
    let mut definitions = Map::new();
    for i in 0..defs {
        definitions.insert(format!("d{i}"), schema(u, defs, 4)?);
    }
    if u.ratio(1, 2)? {
        let mut root = match schema(u, defs, 4)? {
            Value::Object(root) => root,
            other => Map::from_iter([("allOf".to_string(), json!([other]))]),
        };
        root.insert("$defs".into(), Value::Object(definitions));
        return Ok(Value::Object(root));
    }
    let mut paths = Map::new();
    for _ in 0..u.int_in_range(1..=4)? {
        let mut item = Map::new();
        for _ in 0..u.int_in_range(1..=3)? {
            let method = *u.choose(&["get", "put", "post", "delete", "patch", "head", "options"])?;
            item.insert(method.into(), operation(u, defs)?);
        }
        if u.ratio(1, 4)? {
            item.insert("parameters".into(), json!([parameter(u, defs)?]));
        }
        let segments = (0..u.int_in_range(0..=3)?)
            .map(|_| {
                Ok(if u.arbitrary()? { format!("{{{}}}", u.choose(&NAMES)?) } else { u.choose(&NAMES)?.to_string() })
            })
            .collect::<Result<Vec<_>>>()?;
        paths.insert(format!("/{}", segments.join("/")), Value::Object(item));
    }
    Ok(json!({
        "openapi": "3.1.0",
        "info": { "title": text(u)? },
        "paths": paths,
        "components": { "schemas": definitions },
    }))
}

fn operation(u: &mut Unstructured, defs: usize) -> Result<Value> {
    let mut operation = Map::new();
    if u.ratio(2, 3)? {
        let id = if u.arbitrary()? { u.choose(&NAMES)?.to_string() } else { text(u)? };
        operation.insert("operationId".into(), id.into());
    }
    if u.arbitrary()? {
        operation.insert("summary".into(), text(u)?.into());
    }
    let parameters = (0..u.int_in_range(0..=3)?).map(|_| parameter(u, defs)).collect::<Result<Vec<_>>>()?;
    operation.insert("parameters".into(), parameters.into());
    if u.arbitrary()? {
        let media = *u.choose(&["application/json", "text/plain", "application/x-www-form-urlencoded"])?;
        operation.insert(
            "requestBody".into(),
            json!({ "required": u.arbitrary::<bool>()?, "content": { media: { "schema": schema(u, defs, 3)? } } }),
        );
    }
    let status = *u.choose(&["200", "201", "204", "default", "404"])?;
    operation.insert(
        "responses".into(),
        json!({ status: { "description": "", "content": { "application/json": { "schema": schema(u, defs, 3)? } } } }),
    );
    Ok(Value::Object(operation))
}

fn parameter(u: &mut Unstructured, defs: usize) -> Result<Value> {
    Ok(json!({
        "name": u.choose(&NAMES)?,
        "in": u.choose(&["path", "query", "header", "cookie", "elsewhere"])?,
        "required": u.arbitrary::<bool>()?,
        "description": text(u)?,
        "schema": schema(u, defs, 2)?,
    }))
}

/// A schema at most `depth` levels deep, referring to definitions `d0` … `d{defs - 1}` (and some that do not exist).
fn schema(u: &mut Unstructured, defs: usize, depth: u32) -> Result<Value> {
    let choice = if depth == 0 { u.int_in_range(0..=3)? } else { u.int_in_range(0..=11)? };
    let mut schema = match choice {
        0 => json!({ "type": u.choose(&PRIMITIVES)? }),
        1 => Value::Bool(u.arbitrary()?),
        2 => {
            let reference = match u.int_in_range(0..=3)? {
                0 => "other.json#/x".to_string(),
                1 => format!("#/$defs/{}", u.choose(&NAMES)?),
                2 => "#".to_string(),
                _ => format!("#/{}/d{}", u.choose(&["$defs", "components/schemas"])?, u.int_in_range(0..=defs)?),
            };
            json!({ "$ref": reference })
        }
        3 => json!({ "enum": (0..u.int_in_range(0..=4)?).map(|_| any_value(u, 1)).collect::<Result<Vec<_>>>()? }),
        4 => json!({ "const": any_value(u, 2)? }),
        5 => {
            let types: Vec<&str> =
                (0..u.int_in_range(0..=3)?).map(|_| u.choose(&PRIMITIVES).copied()).collect::<Result<_>>()?;
            json!({ "type": types, "items": schema(u, defs, depth - 1)? })
        }
        6 => json!({ "type": "array", "items": schema(u, defs, depth - 1)? }),
        7..=8 => {
            let mut properties = Map::new();
            let mut required = Vec::new();
            for _ in 0..u.int_in_range(0..=4)? {
                let name = u.choose(&NAMES)?.to_string();
                if u.arbitrary()? {
                    required.push(Value::String(name.clone()));
                }
                properties.insert(name, schema(u, defs, depth - 1)?);
            }
            let mut object = json!({ "properties": properties, "required": required });
            if u.arbitrary()? {
                object["type"] = "object".into();
            }
            match u.int_in_range(0..=3)? {
                0 => object["additionalProperties"] = false.into(),
                1 => object["additionalProperties"] = schema(u, defs, depth - 1)?,
                _ => {}
            }
            object
        }
        9 => {
            let key = *u.choose(&["anyOf", "oneOf", "allOf"])?;
            let parts = (0..u.int_in_range(0..=4)?).map(|_| schema(u, defs, depth - 1)).collect::<Result<Vec<_>>>()?;
            json!({ key: parts })
        }
        10 => json!({ "allOf": [schema(u, defs, depth - 1)?], "properties": { "extra": schema(u, defs, depth - 1)? } }),
        _ => json!({ "type": u.choose(&PRIMITIVES)?, "nullable": u.arbitrary::<bool>()? }),
    };
    if let Value::Object(map) = &mut schema
        && u.ratio(1, 4)?
    {
        map.insert((*u.choose(&["description", "title"])?).into(), text(u)?.into());
    }
    Ok(schema)
}

/// Converts `document` (as an OpenAPI connector, or as one schema) and checks its declarations and its checks, on
/// values drawn from what is left of the bytes.
fn check_document(document: &Value, u: &mut Unstructured) {
    let interface = if document.get("openapi").is_some() {
        // Invalid documents are errors, not findings.
        let Ok(api) = OpenApi::from_document("fuzzed", document, Some("http://127.0.0.1/"), Vec::new()) else {
            return;
        };
        api.interface().clone()
    } else {
        let ty = SchemaConverter::new(document).convert(document);
        let function = Function {
            name: "call".into(),
            method: "call".into(),
            docs: SchemaConverter::docs(document),
            params: vec![Param { name: "input".into(), ty: ty.clone() }],
            result: Some(ty),
        };
        Interface { name: "fuzzed".into(), global: "fuzzed".into(), docs: None, functions: vec![function] }
    };

    let declarations = isobox_capabilities::declarations([&interface]);
    let context = || serde_json::to_string_pretty(document).unwrap_or_default();
    assert_only_declares(&declarations, &context());
    let block = declaration_block(&declarations, &interface.global);
    let mut methods = BTreeSet::new();
    for function in &interface.functions {
        assert!(methods.insert(&function.method), "two operations are both `{}`:\n{}", function.method, context());
        assert!(
            block.lines().any(|line| line.trim_start().starts_with(&format!("{}(", function.method))),
            "`{}` is not declared:\n{declarations}",
            function.method
        );
        for ty in function.params.iter().map(|param| &param.ty) {
            check_values(ty, u, &context);
        }
    }
}

/// The check against the independent checker, on values shaped by `ty` (mostly valid) and on any values.
fn check_values(ty: &ValueType, u: &mut Unstructured, context: &dyn Fn() -> String) {
    for _ in 0..4 {
        let value = if u.ratio(3, 4).unwrap_or(true) { value_for(u, ty) } else { any_value(u, 3) };
        let Ok(mut value) = value else { return };
        match ty.check(&value) {
            Ok(()) => {
                assert!(fits(ty, &value, false), "accepted a value that does not fit: {value}\n{}", context());
                ty.integers_as_integers(&mut value);
                assert!(ty.check(&value).is_ok(), "the rewritten value no longer passes: {value}\n{}", context());
                assert!(fits(ty, &value, true), "an integer is still written as a float: {value}\n{}", context());
            }
            Err(mismatch) if mismatch.expected.contains("too many to try") => {}
            Err(mismatch) => {
                assert!(!fits(ty, &value, false), "refused a value that fits: {value} ({mismatch:?})\n{}", context())
            }
        }
    }
}
