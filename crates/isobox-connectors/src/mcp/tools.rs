//! An upstream's tools as the methods of a capability: names JavaScript can call, the types of their arguments and
//! results from the tools' JSON Schemas, and a tool's answer as the value a program gets.

use std::collections::HashSet;

use isobox_capabilities::schema::SchemaConverter;
use isobox_capabilities::types::ValueType;
use isobox_capabilities::{CallError, Function, Param, identifier, unique};
use rmcp::model::{CallToolResult, ContentBlock, Tool};
use serde_json::{Map, Value};

/// The most tools one upstream may offer.
pub(crate) const MAX_TOOLS: usize = 1000;
/// The longest tool name, in bytes (MCP asks for at most 128 characters).
const MAX_NAME_BYTES: usize = 128;

/// One function per tool, in the upstream's order. A function's `name` is the tool's own name (what the upstream is
/// called with); its `method` a unique camelCase JavaScript identifier; its one parameter `args` the tool's
/// `inputSchema`, which may be left out when it requires nothing; its result the tool's `outputSchema`, declared for
/// TypeScript but not checked, or `unknown`.
///
/// # Errors
/// More than [`MAX_TOOLS`] tools, or a tool name that is empty, longer than 128 bytes, or listed twice.
pub(crate) fn functions(tools: &[Tool]) -> Result<Vec<Function>, String> {
    if tools.len() > MAX_TOOLS {
        return Err(format!("the server offers more than {MAX_TOOLS} tools"));
    }
    let (mut methods, mut type_names) = (HashSet::new(), HashSet::new());
    let mut functions: Vec<Function> = Vec::with_capacity(tools.len());
    for tool in tools {
        let name = tool.name.as_ref();
        if name.is_empty() || name.len() > MAX_NAME_BYTES {
            return Err(format!("a tool's name must be 1 to {MAX_NAME_BYTES} bytes, not {} bytes", name.len()));
        }
        if functions.iter().any(|function| function.name == name) {
            return Err(format!("the server lists the tool `{name}` twice"));
        }
        let args = convert(&Value::Object((*tool.input_schema).clone()), &mut type_names);
        let args = if requires_nothing(&args) { ValueType::Option(Box::new(args)) } else { args };
        let result = match &tool.output_schema {
            Some(schema) => convert(&Value::Object((**schema).clone()), &mut type_names),
            None => ValueType::Any,
        };
        let mut about = Map::new();
        for (key, text) in [("description", tool.description.as_deref()), ("title", tool.title.as_deref())] {
            if let Some(text) = text.filter(|text| !text.trim().is_empty()) {
                about.insert(key.into(), text.into());
            }
        }
        functions.push(Function {
            name: name.to_string(),
            method: unique(identifier(name, "tool"), &mut methods),
            docs: SchemaConverter::docs(&Value::Object(about)),
            params: vec![Param { name: "args".into(), ty: args }],
            result: Some(ValueType::Result {
                ok: Some(Box::new(ValueType::Declared(Box::new(result)))),
                err: Some(Box::new(ValueType::Any)),
            }),
        });
    }
    Ok(functions)
}

/// The type of one tool's schema. Each tool's schema is its own document: the names of its types are kept apart from
/// those of the tools before it, so that two tools' different `Entity`s stay two types.
fn convert(schema: &Value, type_names: &mut HashSet<String>) -> ValueType {
    let mut converter = SchemaConverter::new(schema);
    for name in type_names.iter() {
        converter.reserve(name);
    }
    let ty = converter.convert(schema);
    named_types(&ty, type_names);
    ty
}

/// Adds the names of the types `ty` uses to `names`, walking each named type once.
fn named_types(ty: &ValueType, names: &mut HashSet<String>) {
    match ty {
        ValueType::Alias(alias) if names.insert(alias.name.clone()) => named_types(&alias.body, names),
        ValueType::List(inner) | ValueType::Option(inner) | ValueType::Declared(inner) => named_types(inner, names),
        ValueType::Union(types) | ValueType::Tuple(types) => types.iter().for_each(|ty| named_types(ty, names)),
        ValueType::Object(object) => {
            object.properties.iter().for_each(|property| named_types(&property.ty, names));
            object.additional.iter().for_each(|ty| named_types(ty, names));
        }
        _ => {}
    }
}

/// Whether a call may leave the arguments out: an object without required properties, or anything at all.
fn requires_nothing(ty: &ValueType) -> bool {
    match ty {
        ValueType::Object(object) => object.properties.iter().all(|property| !property.required),
        ValueType::Alias(alias) => requires_nothing(&alias.body),
        ValueType::Any => true,
        _ => false,
    }
}

/// What a program gets for a tool's answer: its `structuredContent` when present, else its content: text (several
/// blocks joined by newlines; an object or array written as JSON is parsed), and other content as a small object
/// naming it (`{ type: "image", mimeType: "image/png" }`, a resource's `uri` and text), several blocks as an array.
///
/// # Errors
/// A result with `isError`: an `Error` with its text, and its `structuredContent` as `data`.
pub(crate) fn result_value(result: CallToolResult) -> Result<Value, CallError> {
    if result.is_error == Some(true) {
        let texts: Vec<&str> = result.content.iter().filter_map(|block| Some(block.as_text()?.text.as_str())).collect();
        let message = if texts.is_empty() { "the tool failed without saying why".into() } else { texts.join("\n") };
        return Err(match result.structured_content {
            Some(data) => CallError::with_data(message, data),
            None => CallError::new(message),
        });
    }
    if let Some(value) = result.structured_content {
        return Ok(value);
    }
    let mut values: Vec<Value> = result.content.iter().map(block_value).collect();
    if values.iter().all(Value::is_string) && !values.is_empty() {
        let text = values.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("\n");
        let trimmed = text.trim_start();
        if trimmed.starts_with(['{', '['])
            && let Ok(value) = serde_json::from_str(trimmed)
        {
            return Ok(value);
        }
        return Ok(Value::String(text));
    }
    Ok(match values.len() {
        0 => Value::Null,
        1 => values.pop().expect("one value"),
        _ => Value::Array(values),
    })
}

/// A text block's text; for other content, what names it, without its data.
fn block_value(block: &ContentBlock) -> Value {
    if let Some(text) = block.as_text() {
        return Value::String(text.text.clone());
    }
    let whole = serde_json::to_value(block).unwrap_or(Value::Null);
    // An embedded resource's fields are one level down.
    let fields = whole.get("resource").unwrap_or(&whole);
    let mut value = Map::new();
    value.insert("type".into(), whole.get("type").cloned().unwrap_or(Value::Null));
    for key in ["uri", "name", "mimeType", "text"] {
        if let Some(field) = fields.get(key).filter(|field| field.is_string()) {
            value.insert(key.into(), field.clone());
        }
    }
    Value::Object(value)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use isobox_capabilities::type_expr;
    use serde_json::json;

    use super::*;

    fn tool(name: &str, input: Value) -> Tool {
        let Value::Object(input) = input else { panic!("an object") };
        Tool::new(name.to_string(), "", Arc::new(input))
    }

    #[test]
    fn method_names_are_unique_javascript_identifiers() {
        let names = ["create_entities", "get-sum", "files/read.all", "read graph", "read_graph", "42", "проверка", ""];
        let mut taken = HashSet::new();
        let methods: Vec<String> = names.iter().map(|name| unique(identifier(name, "tool"), &mut taken)).collect();
        assert_eq!(
            methods,
            ["createEntities", "getSum", "filesReadAll", "readGraph", "readGraph2", "_42", "tool", "tool2"]
        );
    }

    #[test]
    fn schemas_become_types_and_arguments_without_requirements_may_be_left_out() {
        let defs = |name: &str| {
            json!({ "type": "object", "$defs": { "Entity": { "type": name } },
                                         "properties": { "e": { "$ref": "#/$defs/Entity" } }, "required": ["e"] })
        };
        let tools = [
            tool("a", defs("string")),
            tool("b", defs("number")),
            tool("c", json!({ "type": "object" })),
            tool("d", json!({ "type": 5 })),
        ];
        let functions = functions(&tools).unwrap();
        let args: Vec<String> = functions.iter().map(|f| type_expr(&f.params[0].ty)).collect();
        assert_eq!(args, ["{ e: Entity }", "{ e: Entity2 }", "Record<string, unknown> | null", "unknown | null"]);
        assert_eq!(functions[2].required_params(), 0);
        assert_eq!(functions[0].required_params(), 1);
        let twice = super::functions(&[tool("a", json!({})), tool("a", json!({}))]).unwrap_err();
        assert!(twice.contains("twice"), "{twice}");
        let long = super::functions(&[tool(&"x".repeat(129), json!({}))]).unwrap_err();
        assert!(long.contains("129 bytes"), "{long}");
    }

    #[test]
    fn results_are_structured_content_else_text_else_named_content() {
        let result = |value: Value| result_value(serde_json::from_value(value).unwrap());
        assert_eq!(
            result(json!({ "content": [{ "type": "text", "text": "{}" }], "structuredContent": { "a": 1 } })),
            Ok(json!({ "a": 1 }))
        );
        assert_eq!(
            result(json!({ "content": [{ "type": "text", "text": "[1," }, { "type": "text", "text": "2]" }] })),
            Ok(json!([1, 2]))
        );
        assert_eq!(result(json!({ "content": [{ "type": "text", "text": "42" }] })), Ok(json!("42")));
        assert_eq!(result(json!({ "content": [] })), Ok(Value::Null));
        assert_eq!(
            result(json!({ "content": [{ "type": "text", "text": "a" },
                                       { "type": "image", "data": "AAAA", "mimeType": "image/png" }] })),
            Ok(json!(["a", { "type": "image", "mimeType": "image/png" }]))
        );
        assert_eq!(
            result(json!({ "content": [{ "type": "resource", "resource": { "uri": "x:/1", "text": "hi" } }] })),
            Ok(json!({ "type": "resource", "uri": "x:/1", "text": "hi" }))
        );
        let error = result(json!({ "content": [{ "type": "text", "text": "no such entity" }], "isError": true }));
        assert_eq!(error, Err(CallError::new("no such entity")));
    }
}
