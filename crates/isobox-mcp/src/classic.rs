//! The classic MCP surface of a capability, for comparison: one tool per function, its arguments described by a JSON
//! Schema generated from the WIT types (named types under `$defs`, as schema generators such as schemars write them).
//! This is what a model would be shown if every function were a tool of its own.

use std::collections::BTreeMap;

use isobox_capabilities::Interface;
use isobox_capabilities::types::ValueType;
use serde_json::{Map, Value, json};

/// The `tools` of a classic `tools/list` for `interfaces`: tool `shop_list_orders` for `shop.listOrders`, with the
/// JSON Schema of its arguments.
pub fn classic_tools(interfaces: &[Interface]) -> Vec<Value> {
    tools(interfaces, false)
}

/// [`classic_tools`] with an `outputSchema` for each function that returns a value, as MCP wants it (an object:
/// `{"result": …}`). This is what the classic surface must add to tell the model as much as the TypeScript does.
pub fn classic_tools_with_results(interfaces: &[Interface]) -> Vec<Value> {
    tools(interfaces, true)
}

fn tools(interfaces: &[Interface], with_results: bool) -> Vec<Value> {
    let mut tools = Vec::new();
    for interface in interfaces {
        for function in &interface.functions {
            let mut tool = json!({ "name": format!("{}_{}", interface.name, function.name).replace('-', "_") });
            if let Some(docs) = &function.docs {
                tool["description"] = json!(docs);
            }
            let required = function.params[..function.required_params()].iter().map(|param| param.name.as_str());
            let properties = function.params.iter().map(|param| (param.name.as_str(), &param.ty));
            tool["inputSchema"] = object(properties, required);
            let result = match &function.result {
                Some(ValueType::Result { ok, .. }) => ok.as_deref(),
                other => other.as_ref(),
            };
            if let (true, Some(result)) = (with_results, result) {
                tool["outputSchema"] = object([("result", result)], ["result"]);
            }
            tools.push(tool);
        }
    }
    tools
}

/// A JSON Schema document for an object with `properties`, its named types under `$defs`.
fn object<'a>(
    properties: impl IntoIterator<Item = (&'a str, &'a ValueType)>,
    required: impl IntoIterator<Item = &'a str>,
) -> Value {
    let mut defs = BTreeMap::new();
    let properties: Map<String, Value> =
        properties.into_iter().map(|(name, ty)| (name.to_string(), schema(ty, &mut defs))).collect();
    let mut document = json!({ "type": "object", "properties": properties });
    let required: Vec<&str> = required.into_iter().collect();
    if !required.is_empty() {
        document["required"] = json!(required);
    }
    if !defs.is_empty() {
        document["$defs"] = json!(defs);
    }
    document
}

/// The JSON Schema of a value of `ty`, as the sandbox encodes it (see [`isobox_capabilities::types`]); named types go
/// into `defs` and are referenced.
pub fn schema(ty: &ValueType, defs: &mut BTreeMap<String, Value>) -> Value {
    match ty {
        ValueType::Bool => json!({ "type": "boolean" }),
        ValueType::Integer { min, max, .. } => json!({ "type": "integer", "minimum": min, "maximum": max }),
        ValueType::Float { .. } => json!({ "type": "number" }),
        ValueType::Char => json!({ "type": "string", "minLength": 1, "maxLength": 1 }),
        ValueType::String => json!({ "type": "string" }),
        ValueType::List(item) => json!({ "type": "array", "items": schema(item, defs) }),
        ValueType::Option(inner) => json!({ "anyOf": [schema(inner, defs), { "type": "null" }] }),
        ValueType::Result { ok, err } => {
            let side = |name: &str, ty: &Option<Box<ValueType>>, defs: &mut BTreeMap<String, Value>| {
                let inner = ty.as_deref().map_or(json!({ "type": "null" }), |ty| schema(ty, defs));
                json!({ "type": "object", "properties": { name: inner }, "required": [name] })
            };
            json!({ "oneOf": [side("ok", ok, defs), side("err", err, defs)] })
        }
        ValueType::Tuple(types) => {
            let items: Vec<Value> = types.iter().map(|ty| schema(ty, defs)).collect();
            json!({ "type": "array", "prefixItems": items, "minItems": types.len(), "maxItems": types.len() })
        }
        ValueType::Record(record) => define(defs, &record.name, record.docs.as_deref(), |defs| {
            let properties: Map<String, Value> = record
                .body
                .iter()
                .map(|field| {
                    let mut property = schema(&field.ty, defs);
                    if let Some(docs) = &field.docs {
                        property["description"] = json!(docs);
                    }
                    (field.name.clone(), property)
                })
                .collect();
            let required: Vec<&str> = record
                .body
                .iter()
                .filter(|field| !matches!(field.ty, ValueType::Option(_)))
                .map(|field| field.name.as_str())
                .collect();
            json!({ "type": "object", "properties": properties, "required": required, "additionalProperties": false })
        }),
        ValueType::Variant(variant) => define(defs, &variant.name, variant.docs.as_deref(), |defs| {
            let cases: Vec<Value> = variant
                .body
                .iter()
                .map(|case| match &case.ty {
                    Some(ty) => json!({
                        "type": "object",
                        "properties": { "tag": { "const": case.name }, "val": schema(ty, defs) },
                        "required": ["tag", "val"]
                    }),
                    None => json!({ "type": "object", "properties": { "tag": { "const": case.name } }, "required": ["tag"] }),
                })
                .collect();
            json!({ "oneOf": cases })
        }),
        ValueType::Enum(cases) => {
            define(defs, &cases.name, cases.docs.as_deref(), |_| json!({ "type": "string", "enum": cases.body }))
        }
        ValueType::Flags(flags) => define(
            defs,
            &flags.name,
            flags.docs.as_deref(),
            |_| json!({ "type": "array", "items": { "type": "string", "enum": flags.body }, "uniqueItems": true }),
        ),
        ValueType::Any => json!({}),
        ValueType::Null => json!({ "type": "null" }),
        ValueType::Literal(value) => json!({ "const": value }),
        ValueType::Union(types) => json!({ "anyOf": types.iter().map(|ty| schema(ty, defs)).collect::<Vec<_>>() }),
        ValueType::Object(object) => {
            let properties: Map<String, Value> = object
                .properties
                .iter()
                .map(|property| {
                    let mut value = schema(&property.ty, defs);
                    if let Some(docs) = &property.docs {
                        value["description"] = json!(docs);
                    }
                    (property.name.clone(), value)
                })
                .collect();
            let required: Vec<&str> = object
                .properties
                .iter()
                .filter(|property| property.required)
                .map(|property| property.name.as_str())
                .collect();
            let additional = object.additional.as_deref().map_or(json!(false), |ty| schema(ty, defs));
            json!({ "type": "object", "properties": properties, "required": required, "additionalProperties": additional })
        }
        ValueType::Alias(alias) => define(defs, &alias.name, alias.docs.as_deref(), |defs| schema(&alias.body, defs)),
        ValueType::Ref(name) => json!({ "$ref": format!("#/$defs/{name}") }),
        ValueType::Declared(inner) => schema(inner, defs),
    }
}

/// Declares a named type once in `defs` and refers to it.
fn define(
    defs: &mut BTreeMap<String, Value>,
    name: &str,
    docs: Option<&str>,
    body: impl FnOnce(&mut BTreeMap<String, Value>) -> Value,
) -> Value {
    if !defs.contains_key(name) {
        defs.insert(name.to_string(), Value::Null);
        let mut definition = body(defs);
        if let Some(docs) = docs {
            definition["description"] = json!(docs);
        }
        defs.insert(name.to_string(), definition);
    }
    json!({ "$ref": format!("#/$defs/{name}") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_tool_per_function_with_its_arguments_schema() {
        let shop = isobox_shop::capability().interface().clone();
        let tools = classic_tools(&[shop]);
        let names: Vec<&str> = tools.iter().map(|tool| tool["name"].as_str().unwrap()).collect();
        assert_eq!(
            names,
            ["shop_list_customers", "shop_get_customer", "shop_list_products", "shop_list_orders", "shop_get_order"]
        );
        let list_orders = &tools[3];
        assert_eq!(list_orders["description"], "Orders matching a filter, oldest first.");
        let input = &list_orders["inputSchema"];
        assert_eq!(input["required"], json!(["filter"]));
        assert_eq!(input["properties"]["filter"], json!({ "$ref": "#/$defs/OrderFilter" }));
        let filter = &input["$defs"]["OrderFilter"];
        assert_eq!(filter["required"], json!([]));
        assert_eq!(
            filter["properties"]["status"],
            json!({ "anyOf": [{ "$ref": "#/$defs/OrderStatus" }, { "type": "null" }] })
        );
        assert_eq!(input["$defs"]["OrderStatus"]["enum"][0], "pending");
        assert_eq!(
            tools[1]["inputSchema"],
            json!({ "type": "object", "properties": { "id": { "type": "integer", "minimum": 0, "maximum": 4294967295u64 } }, "required": ["id"] })
        );
        assert!(tools[0]["inputSchema"].get("required").is_none(), "an option parameter may be left out");
        assert!(tools.iter().all(|tool| tool.get("outputSchema").is_none()));

        let with_results = classic_tools_with_results(&[isobox_shop::capability().interface().clone()]);
        let get_order = &with_results[4]["outputSchema"];
        assert_eq!(get_order["properties"]["result"], json!({ "$ref": "#/$defs/Order" }), "the `ok` of a result");
        assert_eq!(get_order["required"], json!(["result"]));
        assert_eq!(get_order["$defs"]["OrderLine"]["required"], json!(["sku", "quantity", "unitPrice"]));
    }
}
