//! JSON values from fuzz bytes: any value of bounded depth, and values shaped by a capability type (mostly valid, with
//! mutations), which reach much deeper into the dispatcher's checks than random values do.

use arbitrary::{Result, Unstructured};
use isobox_capabilities::types::ValueType;
use serde_json::{Map, Number, Value};

/// Keys that mean something to some WIT encoding, so that random objects sometimes almost fit.
const KEYS: [&str; 8] = ["ok", "err", "tag", "val", "id", "label", "sku", "quantity"];

/// Any JSON value, at most `depth` levels deep.
pub fn any_value(u: &mut Unstructured, depth: u32) -> Result<Value> {
    let choice = if depth == 0 { u.int_in_range(0..=3)? } else { u.int_in_range(0..=5)? };
    Ok(match choice {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => number(u)?,
        3 => Value::String(string(u)?),
        4 => {
            let len = u.int_in_range(0..=4)?;
            Value::Array((0..len).map(|_| any_value(u, depth - 1)).collect::<Result<_>>()?)
        }
        _ => {
            let len = u.int_in_range(0..=4)?;
            let mut object = Map::new();
            for _ in 0..len {
                let key = if u.ratio(1, 2)? { (*u.choose(&KEYS)?).to_string() } else { string(u)? };
                object.insert(key, any_value(u, depth - 1)?);
            }
            Value::Object(object)
        }
    })
}

fn string(u: &mut Unstructured) -> Result<String> {
    let text: String = u.arbitrary()?;
    Ok(text.chars().take(64).collect())
}

/// Numbers near the edges of every WIT integer type, and floats of every kind JSON can hold.
fn number(u: &mut Unstructured) -> Result<Value> {
    const EDGES: [i64; 14] = [
        0,
        1,
        -1,
        i8::MIN as i64,
        i8::MAX as i64 + 1,
        u8::MAX as i64 + 1,
        i16::MIN as i64 - 1,
        u16::MAX as i64 + 1,
        i32::MIN as i64 - 1,
        u32::MAX as i64 + 1,
        (1 << 53) - 1,
        1 << 53,
        -(1 << 53),
        i64::MIN,
    ];
    Ok(match u.int_in_range(0..=4)? {
        0 => (*u.choose(&EDGES)?).into(),
        1 => u.arbitrary::<i64>()?.into(),
        2 => u.arbitrary::<u64>()?.into(),
        3 => float(u.arbitrary::<f64>()?),
        _ => float(*u.choose(&[0.5, -0.0, 2.0, 255.0, 256.0, 1e21, -1e300, 9007199254740992.0, 4294967295.0])?),
    })
}

fn float(value: f64) -> Value {
    Number::from_f64(value).map_or(Value::Null, Value::Number)
}

/// A value for `ty`: valid unless the bytes ask for a mutation (about one node in sixteen is replaced by any value, or
/// bent just out of its type).
pub fn value_for(u: &mut Unstructured, ty: &ValueType) -> Result<Value> {
    if u.ratio(1, 16)? {
        return any_value(u, 2);
    }
    Ok(match ty {
        ValueType::Bool => Value::Bool(u.arbitrary()?),
        ValueType::Integer { min, max, .. } => {
            let (min, max) = (*min, *max);
            match u.int_in_range(0..=5)? {
                0 => min.into(),
                1 => max.into(),
                // An integral number written as a float, as JSON allows.
                2 => float(u.int_in_range(min..=max)? as f64),
                3 => min.saturating_sub(1).into(),
                4 => max.saturating_add(1).into(),
                _ => u.int_in_range(min..=max)?.into(),
            }
        }
        ValueType::Float { .. } => match u.int_in_range(0..=2)? {
            0 => float(u.arbitrary()?),
            1 => u.arbitrary::<i64>()?.into(),
            _ => u.arbitrary::<u64>()?.into(),
        },
        ValueType::Char => {
            let first: char = u.arbitrary()?;
            if u.ratio(1, 8)? {
                Value::String(format!("{first}{}", u.arbitrary::<char>()?))
            } else {
                first.to_string().into()
            }
        }
        ValueType::String => Value::String(string(u)?),
        ValueType::List(item) => {
            let len = u.int_in_range(0..=3)?;
            Value::Array((0..len).map(|_| value_for(u, item)).collect::<Result<_>>()?)
        }
        ValueType::Option(inner) => {
            if u.ratio(1, 3)? {
                Value::Null
            } else {
                value_for(u, inner)?
            }
        }
        ValueType::Result { ok, err } => {
            let (key, side) = if u.arbitrary()? { ("ok", ok) } else { ("err", err) };
            let inner = match side {
                Some(ty) => value_for(u, ty)?,
                None => Value::Null,
            };
            let mut object = Map::new();
            object.insert(key.into(), inner);
            Value::Object(object)
        }
        ValueType::Tuple(types) => {
            let mut items = types.iter().map(|ty| value_for(u, ty)).collect::<Result<Vec<_>>>()?;
            if u.ratio(1, 16)? {
                items.pop();
            }
            Value::Array(items)
        }
        ValueType::Record(record) => {
            let mut object = Map::new();
            for field in &record.body {
                // A missing `option` field reads as null.
                if matches!(field.ty, ValueType::Option(_)) && u.ratio(1, 4)? {
                    continue;
                }
                object.insert(field.name.clone(), value_for(u, &field.ty)?);
            }
            if u.ratio(1, 16)? {
                object.insert(string(u)?, Value::Null);
            }
            Value::Object(object)
        }
        ValueType::Variant(variant) => {
            let case = u.choose(&variant.body)?;
            let mut object = Map::new();
            object.insert("tag".into(), case.name.clone().into());
            if let Some(ty) = &case.ty {
                object.insert("val".into(), value_for(u, ty)?);
            }
            Value::Object(object)
        }
        ValueType::Enum(cases) => Value::String(u.choose(&cases.body)?.clone()),
        ValueType::Flags(flags) => {
            let len = u.int_in_range(0..=flags.body.len())?;
            Value::Array((0..len).map(|_| Ok(Value::String(u.choose(&flags.body)?.clone()))).collect::<Result<_>>()?)
        }
        ValueType::Any | ValueType::Ref(_) | ValueType::Declared(_) => any_value(u, 2)?,
        ValueType::Null => Value::Null,
        ValueType::Literal(value) => value.clone(),
        ValueType::Union(types) => {
            let ty = u.choose(types)?;
            value_for(u, ty)?
        }
        ValueType::Alias(alias) => value_for(u, &alias.body)?,
        ValueType::Object(object) => {
            let mut map = Map::new();
            for property in &object.properties {
                if !property.required && u.ratio(1, 3)? {
                    continue;
                }
                map.insert(property.name.clone(), value_for(u, &property.ty)?);
            }
            if u.ratio(1, 16)? {
                map.insert(string(u)?, Value::Null);
            }
            Value::Object(map)
        }
    })
}

/// Whether `value` is a valid JSON encoding of `ty`, written from the encoding table in
/// `isobox_capabilities::types` and not from its checker. `strict` also asks what a Rust host function needs to
/// deserialise the value: integers written as integers.
pub fn fits(ty: &ValueType, value: &Value, strict: bool) -> bool {
    match ty {
        ValueType::Bool => value.is_boolean(),
        ValueType::Integer { min, max, .. } => {
            let Value::Number(number) = value else { return false };
            if let Some(n) = number.as_i64() {
                (*min..=*max).contains(&n)
            } else if let Some(n) = number.as_u64() {
                *max >= 0 && n <= *max as u64
            } else {
                let f = number.as_f64().expect("JSON numbers are i64, u64 or f64");
                !strict && f.trunc() == f && f >= *min as f64 && f <= *max as f64
            }
        }
        ValueType::Float { .. } => value.is_number(),
        ValueType::Char => value.as_str().is_some_and(|text| text.chars().count() == 1),
        ValueType::String => value.is_string(),
        ValueType::List(item) => {
            value.as_array().is_some_and(|items| items.iter().all(|value| fits(item, value, strict)))
        }
        ValueType::Option(inner) => value.is_null() || fits(inner, value, strict),
        ValueType::Result { ok, err } => {
            let Some(object) = value.as_object() else { return false };
            let side = match object.keys().map(String::as_str).collect::<Vec<_>>()[..] {
                ["ok"] => ok,
                ["err"] => err,
                _ => return false,
            };
            let inner = object.values().next().unwrap();
            side.as_deref().map_or(inner.is_null(), |ty| fits(ty, inner, strict))
        }
        ValueType::Tuple(types) => value.as_array().is_some_and(|items| {
            items.len() == types.len() && types.iter().zip(items).all(|(ty, value)| fits(ty, value, strict))
        }),
        ValueType::Record(record) => {
            let Some(object) = value.as_object() else { return false };
            object.keys().all(|key| record.body.iter().any(|field| &field.name == key))
                && record
                    .body
                    .iter()
                    .all(|field| fits(&field.ty, object.get(&field.name).unwrap_or(&Value::Null), strict))
        }
        ValueType::Variant(variant) => {
            let Some(object) = value.as_object() else { return false };
            let Some(case) = object
                .get("tag")
                .and_then(Value::as_str)
                .and_then(|tag| variant.body.iter().find(|case| case.name == tag))
            else {
                return false;
            };
            match &case.ty {
                Some(ty) => {
                    object.keys().all(|key| key == "tag" || key == "val")
                        && fits(ty, object.get("val").unwrap_or(&Value::Null), strict)
                }
                None => object.len() == 1,
            }
        }
        ValueType::Enum(cases) => value.as_str().is_some_and(|name| cases.body.iter().any(|case| case == name)),
        ValueType::Flags(flags) => value.as_array().is_some_and(|names| {
            names.iter().all(|name| name.as_str().is_some_and(|name| flags.body.iter().any(|flag| flag == name)))
        }),
        ValueType::Any | ValueType::Ref(_) | ValueType::Declared(_) => true,
        ValueType::Null => value.is_null(),
        ValueType::Literal(literal) => literal == value,
        ValueType::Union(types) => types.iter().any(|ty| fits(ty, value, strict)),
        ValueType::Alias(alias) => fits(&alias.body, value, strict),
        ValueType::Object(object) => {
            let Some(map) = value.as_object() else { return false };
            object.properties.iter().all(|property| match map.get(&property.name) {
                Some(value) => fits(&property.ty, value, strict),
                None => !property.required,
            }) && map.iter().all(|(key, value)| {
                object.properties.iter().any(|property| &property.name == key)
                    || object.additional.as_deref().is_some_and(|ty| fits(ty, value, strict))
            })
        }
    }
}
