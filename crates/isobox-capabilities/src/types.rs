//! The value types a capability's functions take and return, as JavaScript sees them, and the check every value from
//! a sandbox passes before host code sees it.
//!
//! The mapping from WIT (also the mapping of the generated TypeScript):
//!
//! | WIT | JavaScript / JSON |
//! |---|---|
//! | `bool` | boolean |
//! | `u8` … `u32`, `s8` … `s32` | integral number in range |
//! | `u64`, `s64` | integral number within ±(2^53 − 1), so that JavaScript holds it exactly |
//! | `f32`, `f64` | number |
//! | `char` | string of one code point |
//! | `string` | string |
//! | `list<T>` | array |
//! | `option<T>` | `T` or `null`; `option<option<T>>` is refused when the WIT is loaded (one `null` for two nones) |
//! | `result<T, E>` (as a return type) | the call resolves to `T`, or rejects with an `Error` carrying `E` as `data` |
//! | `result<T, E>` (elsewhere) | `{ ok: T }` or `{ err: E }` |
//! | `tuple<A, B>` | `[A, B]` |
//! | `record` | object; field `kebab-name` becomes `kebabName` |
//! | `variant` | `{ tag: "case-name", val?: T }` |
//! | `enum` | the case name as a string |
//! | `flags` | array of the set flag names |
//!
//! Connectors (MCP tools, OpenAPI operations) declare their types in JSON Schema instead; [`crate::schema`] maps it to
//! the JSON-native types below ([`ValueType::Any`], [`ValueType::Object`], [`ValueType::Union`] …), which WIT never
//! produces.

use std::sync::Arc;

use serde_json::Value;

/// A WIT value type, resolved (aliases followed) and named for JavaScript.
#[derive(Clone, Debug, PartialEq)]
pub enum ValueType {
    /// `bool`: `true` or `false`.
    Bool,
    /// An integer type: a JavaScript number with no fraction within `min..=max`.
    Integer {
        /// The smallest value (for 64-bit types, bounded to JavaScript's safe integers).
        min: i64,
        /// The largest value.
        max: i64,
        /// The WIT name (`u8`, `s32`, …), for messages.
        wit: &'static str,
    },
    /// `f32` or `f64`: any JavaScript number.
    Float {
        /// The WIT name, for messages.
        wit: &'static str,
    },
    /// `char`: a string of one Unicode scalar value.
    Char,
    /// `string`.
    String,
    /// `list<T>`: an array.
    List(Box<ValueType>),
    /// `option<T>`: `T` or `null`.
    Option(Box<ValueType>),
    /// `result<T, E>`: a returned one resolves or rejects; elsewhere `{ ok: T }` or `{ err: E }`.
    Result {
        /// `T`, `None` for `result<_, E>`.
        ok: Option<Box<ValueType>>,
        /// `E`, `None` for `result<T>`.
        err: Option<Box<ValueType>>,
    },
    /// `tuple<…>`: an array of exactly these types.
    Tuple(Vec<ValueType>),
    /// A `record`: an object with exactly these fields.
    Record(Named<Vec<Field>>),
    /// A `variant`: `{ tag, val? }`.
    Variant(Named<Vec<Case>>),
    /// An `enum`: one of these names.
    Enum(Named<Vec<String>>),
    /// `flags`: an array of some of these names.
    Flags(Named<Vec<String>>),
    /// Any JSON value (TypeScript `unknown`).
    Any,
    /// `null` alone.
    Null,
    /// Exactly this JSON value: a JSON Schema `const`, or one member of an `enum`.
    Literal(Value),
    /// A value of any of these types (`anyOf`, `oneOf`, a list of `type`s, OpenAPI's `nullable`).
    Union(Vec<ValueType>),
    /// A JSON object whose properties may be optional and whose other properties may be allowed. Shared, as a large
    /// API uses one schema in many places.
    Object(Arc<Object>),
    /// A type with a name, declared once (`type Name = …`) and used by name: a JSON Schema `$ref`.
    Alias(Arc<Named<ValueType>>),
    /// A use of the alias being declared, inside its own declaration (a recursive schema): TypeScript names it, and
    /// values in that place are not checked further.
    Ref(String),
    /// A type that documents values without checking them: what an upstream promises about its own results, which
    /// a program should still get when the upstream does not keep the promise.
    Declared(Box<ValueType>),
}

/// A JSON object type: [`ValueType::Object`].
#[derive(Clone, Debug, PartialEq)]
pub struct Object {
    /// The listed properties, in order.
    pub properties: Vec<Property>,
    /// Properties not listed are allowed with this type; `None`: refused.
    pub additional: Option<Box<ValueType>>,
}

/// One listed property of an [`Object`].
#[derive(Clone, Debug, PartialEq)]
pub struct Property {
    /// The JSON name, as is.
    pub name: String,
    /// Its description, for the TypeScript a model reads.
    pub docs: Option<String>,
    /// The type its value must have.
    pub ty: ValueType,
    /// Whether a value must have this property (an optional one, when present, must fit `ty`).
    pub required: bool,
}

/// A type declared with a name in WIT: records, variants, enums and flags.
#[derive(Clone, Debug, PartialEq)]
pub struct Named<T> {
    /// The TypeScript name (`order-status` becomes `OrderStatus`).
    pub name: String,
    /// The declaration's doc comment, for the TypeScript a model reads.
    pub docs: Option<String>,
    /// What it declares: fields, cases or names.
    pub body: T,
}

/// One field of a WIT `record`.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    /// The JavaScript property name.
    pub name: String,
    /// The field's doc comment.
    pub docs: Option<String>,
    /// The type its value must have.
    pub ty: ValueType,
}

/// One case of a WIT `variant`.
#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    /// The case name, as in WIT.
    pub name: String,
    /// The case's doc comment.
    pub docs: Option<String>,
    /// The type of its `val`; `None` for a case without a payload.
    pub ty: Option<ValueType>,
}

/// The largest integer JavaScript numbers hold exactly.
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// Why a value does not match its type: where in the value, and what was expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// A path into the value such as `.items[2].sku`; empty for the value itself.
    pub path: String,
    /// The type expected there, as TypeScript writes it.
    pub expected: String,
    /// The JSON type found there (`string`, `null`, …).
    pub found: &'static str,
}

impl ValueType {
    /// Checks that `value` is a valid JSON encoding of this type.
    ///
    /// The work is bounded by the value's size, unions included (a hostile schema's nested alternatives cannot make
    /// it exponential): a value that would take longer to check is refused as too complex to check.
    pub fn check(&self, value: &Value) -> Result<(), Mismatch> {
        self.check_at(value, &mut String::new(), &mut Budget::for_value(value))
    }

    fn check_at(&self, value: &Value, path: &mut String, budget: &mut Budget) -> Result<(), Mismatch> {
        if !budget.step() {
            return Err(budget.exhausted(path, value));
        }
        let quiet = budget.quiet;
        // Inside a union's trial the description is never read: building it for every failed alternative is waste.
        let mismatch = |path: &String| {
            if quiet {
                Mismatch { path: String::new(), expected: String::new(), found: kind_of(value) }
            } else {
                Mismatch { path: path.clone(), expected: self.describe(), found: kind_of(value) }
            }
        };
        match (self, value) {
            (Self::Bool, Value::Bool(_))
            | (Self::String, Value::String(_))
            | (Self::Float { .. }, Value::Number(_)) => Ok(()),
            (Self::Integer { min, max, .. }, Value::Number(number)) => {
                let fits = match (number.as_i64(), number.as_u64(), number.as_f64()) {
                    (Some(n), _, _) => n >= *min && n <= *max,
                    (None, Some(n), _) => i64::try_from(n).is_ok_and(|n| n <= *max),
                    (None, None, Some(f)) => f.fract() == 0.0 && f >= *min as f64 && f <= *max as f64,
                    _ => false,
                };
                if fits { Ok(()) } else { Err(mismatch(path)) }
            }
            (Self::Char, Value::String(text)) if text.chars().count() == 1 => Ok(()),
            (Self::List(item), Value::Array(items)) => items
                .iter()
                .enumerate()
                .try_for_each(|(i, value)| nested(path, &format!("[{i}]"), |path| item.check_at(value, path, budget))),
            (Self::Option(_), Value::Null) => Ok(()),
            (Self::Option(inner), _) => inner.check_at(value, path, budget),
            (Self::Result { ok, err }, Value::Object(object)) if object.len() == 1 => {
                let (key, inner) = object.iter().next().unwrap();
                let ty = match key.as_str() {
                    "ok" => ok,
                    "err" => err,
                    _ => return Err(mismatch(path)),
                };
                match ty {
                    Some(ty) => nested(path, &format!(".{key}"), |path| ty.check_at(inner, path, budget)),
                    None if inner.is_null() => Ok(()),
                    None => Err(mismatch(path)),
                }
            }
            (Self::Tuple(types), Value::Array(items)) if types.len() == items.len() => {
                types.iter().zip(items).enumerate().try_for_each(|(i, (ty, value))| {
                    nested(path, &format!("[{i}]"), |path| ty.check_at(value, path, budget))
                })
            }
            (Self::Record(record), Value::Object(object)) => {
                if let Some(extra) = object.keys().find(|key| !record.body.iter().any(|field| &field.name == *key)) {
                    if quiet {
                        return Err(mismatch(path));
                    }
                    return Err(Mismatch {
                        path: format!("{path}.{extra}"),
                        expected: format!("no such field in {}", record.name),
                        found: kind_of(&object[extra]),
                    });
                }
                record.body.iter().try_for_each(|field| {
                    let value = object.get(&field.name).unwrap_or(&Value::Null);
                    nested(path, &format!(".{}", field.name), |path| field.ty.check_at(value, path, budget))
                })
            }
            (Self::Variant(variant), Value::Object(object)) => {
                let case = object
                    .get("tag")
                    .and_then(Value::as_str)
                    .and_then(|tag| variant.body.iter().find(|case| case.name == tag))
                    .ok_or_else(|| mismatch(path))?;
                let allowed = |key: &String| key == "tag" || (key == "val" && case.ty.is_some());
                if !object.keys().all(allowed) {
                    return Err(mismatch(path));
                }
                match &case.ty {
                    Some(ty) => {
                        let value = object.get("val").unwrap_or(&Value::Null);
                        nested(path, ".val", |path| ty.check_at(value, path, budget))
                    }
                    None => Ok(()),
                }
            }
            (Self::Enum(cases), Value::String(name)) if cases.body.contains(name) => Ok(()),
            (Self::Any | Self::Ref(_) | Self::Declared(_), _) | (Self::Null, Value::Null) => Ok(()),
            (Self::Literal(expected), value) if expected == value => Ok(()),
            (Self::Alias(alias), value) => alias.body.check_at(value, path, budget),
            (Self::Union(types), value) => {
                if types.iter().any(|ty| budget.trial(|budget| ty.check_at(value, path, budget).is_ok())) {
                    return Ok(());
                }
                if budget.is_exhausted() {
                    return Err(budget.exhausted(path, value));
                }
                // One alternative of the value's own kind: say where inside it the value fails.
                let mut same_kind = types.iter().filter(|ty| ty.accepts_kind(value));
                match (same_kind.next(), same_kind.next()) {
                    (Some(only), None) => only.check_at(value, path, budget),
                    _ => Err(mismatch(path)),
                }
            }
            (Self::Object(object), Value::Object(map)) => {
                for property in &object.properties {
                    match map.get(&property.name) {
                        Some(value) => nested(path, &property_step(&property.name), |path| {
                            property.ty.check_at(value, path, budget)
                        })?,
                        None if property.required && quiet => return Err(mismatch(path)),
                        None if property.required => {
                            return Err(Mismatch {
                                path: format!("{path}{}", property_step(&property.name)),
                                expected: property.ty.describe(),
                                found: "nothing (the property is required)",
                            });
                        }
                        None => {}
                    }
                }
                for (key, value) in map {
                    if object.properties.iter().any(|property| &property.name == key) {
                        continue;
                    }
                    match &object.additional {
                        Some(ty) => nested(path, &property_step(key), |path| ty.check_at(value, path, budget))?,
                        None if quiet => return Err(mismatch(path)),
                        None => {
                            return Err(Mismatch {
                                path: format!("{path}{}", property_step(key)),
                                expected: format!(
                                    "no such property (expected one of: {})",
                                    object.properties.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ")
                                ),
                                found: kind_of(value),
                            });
                        }
                    }
                }
                Ok(())
            }
            (Self::Flags(flags), Value::Array(names))
                if names
                    .iter()
                    .all(|name| name.as_str().is_some_and(|name| flags.body.iter().any(|flag| flag == name))) =>
            {
                Ok(())
            }
            _ => Err(mismatch(path)),
        }
    }

    /// Rewrites integral numbers written as floats (`2.0`, `1e3`) as integers wherever this type has an integer, so
    /// that a value that passed [`check`](Self::check) also deserialises into Rust integers. `value` must have passed
    /// the check.
    pub fn integers_as_integers(&self, value: &mut Value) {
        let mut budget = Budget::for_value(value);
        self.rewrite_integers(value, &mut budget);
    }

    fn rewrite_integers(&self, value: &mut Value, budget: &mut Budget) {
        if !budget.step() {
            return;
        }
        match (self, value) {
            (Self::Integer { .. }, Value::Number(number)) => {
                if let Some(float) = number.as_f64().filter(|_| number.is_f64()) {
                    // In range and integral, as checked: the cast is exact.
                    *number = (float as i64).into();
                }
            }
            (Self::List(item), Value::Array(items)) => {
                items.iter_mut().for_each(|value| item.rewrite_integers(value, budget))
            }
            (Self::Option(_), Value::Null) => {}
            (Self::Option(inner), value) => inner.rewrite_integers(value, budget),
            (Self::Result { ok, err }, Value::Object(object)) => {
                for (key, value) in object.iter_mut() {
                    let side = if key == "ok" { ok } else { err };
                    if let Some(ty) = side {
                        ty.rewrite_integers(value, budget);
                    }
                }
            }
            (Self::Tuple(types), Value::Array(items)) => {
                types.iter().zip(items).for_each(|(ty, value)| ty.rewrite_integers(value, budget))
            }
            (Self::Record(record), Value::Object(object)) => {
                for field in &record.body {
                    if let Some(value) = object.get_mut(&field.name) {
                        field.ty.rewrite_integers(value, budget);
                    }
                }
            }
            (Self::Alias(alias), value) => alias.body.rewrite_integers(value, budget),
            (Self::Union(types), value) => {
                let fits = |ty: &&ValueType, budget: &mut Budget| {
                    budget.trial(|budget| ty.check_at(value, &mut String::new(), budget).is_ok())
                };
                if let Some(ty) = types.iter().find(|ty| fits(ty, budget)) {
                    ty.rewrite_integers(value, budget);
                }
            }
            (Self::Object(object), Value::Object(map)) => {
                for (key, value) in map.iter_mut() {
                    let ty = match object.properties.iter().find(|property| &property.name == key) {
                        Some(property) => &property.ty,
                        None => match &object.additional {
                            Some(ty) => ty,
                            None => continue,
                        },
                    };
                    ty.rewrite_integers(value, budget);
                }
            }
            (Self::Variant(variant), Value::Object(object)) => {
                let case = object
                    .get("tag")
                    .and_then(Value::as_str)
                    .and_then(|tag| variant.body.iter().find(|c| c.name == tag));
                if let (Some(ty), Some(value)) = (case.and_then(|case| case.ty.clone()), object.get_mut("val")) {
                    ty.rewrite_integers(value, budget);
                }
            }
            _ => {}
        }
    }

    /// A valid value of this type, for checking at registration that a Rust handler's argument types take what the
    /// sandbox can send: options are null when `nones`, else hold a value (so that what is inside is checked too);
    /// lists and flags hold one element, variants and enums take their first case, unions their first member.
    pub(crate) fn sample(&self, nones: bool, depth: u32) -> Value {
        if depth == 0 {
            return Value::Null;
        }
        let sample = |ty: &ValueType| ty.sample(nones, depth - 1);
        match self {
            Self::Bool => Value::Bool(false),
            Self::Integer { min, max, .. } => 0.clamp(*min, *max).into(),
            Self::Float { .. } => serde_json::json!(0.5),
            Self::Char | Self::String => "a".into(),
            Self::List(item) => Value::Array(vec![sample(item)]),
            Self::Option(_) if nones => Value::Null,
            Self::Option(inner) => sample(inner),
            Self::Result { ok, .. } => serde_json::json!({ "ok": ok.as_deref().map_or(Value::Null, sample) }),
            Self::Tuple(types) => Value::Array(types.iter().map(sample).collect()),
            Self::Record(record) => {
                Value::Object(record.body.iter().map(|field| (field.name.clone(), sample(&field.ty))).collect())
            }
            Self::Variant(variant) => match variant.body.first() {
                Some(Case { name, ty: Some(ty), .. }) => serde_json::json!({ "tag": name, "val": sample(ty) }),
                Some(Case { name, ty: None, .. }) => serde_json::json!({ "tag": name }),
                None => Value::Null,
            },
            Self::Enum(cases) => cases.body.first().map_or(Value::Null, |case| case.as_str().into()),
            Self::Flags(flags) => Value::Array(flags.body.iter().take(1).map(|flag| flag.as_str().into()).collect()),
            Self::Any | Self::Null | Self::Ref(_) | Self::Declared(_) => Value::Null,
            Self::Literal(value) => value.clone(),
            Self::Union(types) => types.first().map_or(Value::Null, sample),
            Self::Alias(alias) => sample(&alias.body),
            Self::Object(object) => Value::Object(
                object
                    .properties
                    .iter()
                    .filter(|property| property.required || !nones)
                    .map(|property| (property.name.clone(), sample(&property.ty)))
                    .collect(),
            ),
        }
    }

    /// A short description for error messages, in TypeScript terms (cut after about 200 bytes).
    pub fn describe(&self) -> String {
        let text = match self {
            Self::Integer { wit, .. } if *wit == "integer" => "integer".into(),
            Self::Integer { wit, .. } => format!("integer ({wit})"),
            Self::Char => "string of one character (char)".into(),
            Self::Alias(alias) => format!("{} ({})", alias.name, alias.body.describe()),
            _ => crate::typescript::type_expr(self),
        };
        isobox_core::output::shorten(&text, 200)
    }

    /// Whether a value of `value`'s JSON kind could be of this type, whatever is inside it.
    fn accepts_kind(&self, value: &Value) -> bool {
        match (self, value) {
            (Self::Alias(alias), _) => alias.body.accepts_kind(value),
            (Self::Option(inner), _) => value.is_null() || inner.accepts_kind(value),
            (Self::Union(types), _) => types.iter().any(|ty| ty.accepts_kind(value)),
            (Self::Literal(literal), _) => kind_of(literal) == kind_of(value),
            (Self::List(_) | Self::Tuple(_) | Self::Flags(_), Value::Array(_))
            | (Self::Record(_) | Self::Variant(_) | Self::Result { .. } | Self::Object(_), Value::Object(_))
            | (Self::String | Self::Char | Self::Enum(_), Value::String(_))
            | (Self::Integer { .. } | Self::Float { .. }, Value::Number(_))
            | (Self::Bool, Value::Bool(_))
            | (Self::Null, Value::Null)
            | (Self::Any | Self::Ref(_) | Self::Declared(_), _) => true,
            _ => false,
        }
    }
}

/// The work one check may do. A union is checked by trying its alternatives, so a type whose alternatives each hold
/// the next level (nested `anyOf`s of a hostile JSON Schema, from an OpenAPI document or an MCP server) would take
/// time exponential in the value's depth; the budget makes checking linear in the value's size, and a value past it
/// is refused as too complex to check.
struct Budget {
    steps: usize,
    /// Inside a union's trial, where the mismatch is thrown away.
    quiet: bool,
}

impl Budget {
    /// Types visited, at least, whatever the value (a union of many literals is tried member by member).
    const MIN_STEPS: usize = 1_000_000;
    /// Types visited per JSON value of the value checked: room for a few levels of unions of a few alternatives.
    const STEPS_PER_VALUE: usize = 64;

    fn for_value(value: &Value) -> Self {
        let steps = count_values(value).saturating_mul(Self::STEPS_PER_VALUE).max(Self::MIN_STEPS);
        Self { steps, quiet: false }
    }

    /// Takes one step; false once there are none left.
    fn step(&mut self) -> bool {
        self.steps = self.steps.saturating_sub(1);
        self.steps > 0
    }

    fn is_exhausted(&self) -> bool {
        self.steps == 0
    }

    /// Runs one alternative's trial quietly.
    fn trial<T>(&mut self, trial: impl FnOnce(&mut Self) -> T) -> T {
        let quiet = std::mem::replace(&mut self.quiet, true);
        let result = trial(self);
        self.quiet = quiet;
        result
    }

    fn exhausted(&self, path: &str, value: &Value) -> Mismatch {
        Mismatch {
            path: if self.quiet { String::new() } else { path.to_string() },
            expected: "a value simpler to check (its type's alternatives are too many to try)".into(),
            found: kind_of(value),
        }
    }
}

/// The JSON values in `value`, itself included.
fn count_values(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(count_values).sum::<usize>(),
        Value::Object(map) => 1 + map.values().map(count_values).sum::<usize>(),
        _ => 1,
    }
}

/// `.name`, or `["odd name"]` for a property that is not an identifier.
fn property_step(name: &str) -> String {
    if crate::typescript::is_identifier(name) {
        format!(".{name}")
    } else {
        format!("[{}]", Value::String(name.to_string()))
    }
}

fn nested<T>(path: &mut String, step: &str, check: impl FnOnce(&mut String) -> T) -> T {
    let len = path.len();
    path.push_str(step);
    let result = check(path);
    path.truncate(len);
    result
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn named<T>(name: &str, body: T) -> Named<T> {
        Named { name: name.into(), docs: None, body }
    }

    fn u8() -> ValueType {
        ValueType::Integer { min: 0, max: 255, wit: "u8" }
    }

    #[test]
    fn integers_are_checked_against_their_range() {
        assert!(u8().check(&json!(255)).is_ok());
        assert!(u8().check(&json!(256)).is_err());
        assert!(u8().check(&json!(-1)).is_err());
        assert!(u8().check(&json!(1.5)).is_err());
        assert!(u8().check(&json!(2.0)).is_ok());
        // What passes as an integer is handed on as one.
        let list = ValueType::List(Box::new(ValueType::Option(Box::new(u8()))));
        let mut value = json!([2.0, null, 3, 1e2]);
        list.integers_as_integers(&mut value);
        assert_eq!(value, json!([2, null, 3, 100]));
        assert!(value[0].is_u64() && value[3].is_u64());
        assert!(u8().check(&json!("1")).is_err());
    }

    #[test]
    fn records_name_the_failing_field() {
        let ty = ValueType::Record(named(
            "Item",
            vec![
                Field { name: "sku".into(), docs: None, ty: ValueType::String },
                Field { name: "quantity".into(), docs: None, ty: u8() },
            ],
        ));
        assert!(ty.check(&json!({"sku": "a", "quantity": 2})).is_ok());
        let list = ValueType::List(Box::new(ty));
        let error = list.check(&json!([{"sku": "a", "quantity": 2}, {"sku": 1, "quantity": 2}])).unwrap_err();
        assert_eq!(error.path, "[1].sku");
        assert_eq!(error.expected, "string");
        assert_eq!(error.found, "number");
        let error = list.check(&json!([{"sku": "a", "quantity": 2, "extra": true}])).unwrap_err();
        assert_eq!(error.path, "[0].extra");
    }

    #[test]
    fn options_variants_enums_flags_results_tuples() {
        let option = ValueType::Option(Box::new(ValueType::String));
        assert!(
            option.check(&json!(null)).is_ok() && option.check(&json!("x")).is_ok() && option.check(&json!(1)).is_err()
        );

        let variant = ValueType::Variant(named(
            "Shape",
            vec![
                Case { name: "circle".into(), docs: None, ty: Some(ValueType::Float { wit: "f64" }) },
                Case { name: "dot".into(), docs: None, ty: None },
            ],
        ));
        assert!(variant.check(&json!({"tag": "circle", "val": 2.5})).is_ok());
        assert!(variant.check(&json!({"tag": "dot"})).is_ok());
        assert!(variant.check(&json!({"tag": "dot", "val": 1})).is_err());
        assert!(variant.check(&json!({"tag": "square"})).is_err());

        let enumeration = ValueType::Enum(named("Color", vec!["red".into(), "dark-blue".into()]));
        assert!(enumeration.check(&json!("dark-blue")).is_ok() && enumeration.check(&json!("green")).is_err());

        let flags = ValueType::Flags(named("Perms", vec!["read".into(), "write".into()]));
        assert!(flags.check(&json!(["read"])).is_ok() && flags.check(&json!(["exec"])).is_err());

        let result = ValueType::Result { ok: Some(Box::new(u8())), err: None };
        assert!(result.check(&json!({"ok": 1})).is_ok() && result.check(&json!({"err": null})).is_ok());
        assert!(result.check(&json!({"ok": 1, "err": null})).is_err());

        let tuple = ValueType::Tuple(vec![ValueType::String, ValueType::Bool]);
        assert!(tuple.check(&json!(["a", true])).is_ok() && tuple.check(&json!(["a"])).is_err());

        assert!(ValueType::Char.check(&json!("🦀")).is_ok() && ValueType::Char.check(&json!("ab")).is_err());
    }
}
