//! Capabilities declared in WIT: each `interface` becomes one capability, its functions the methods of one global
//! object in the sandbox.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use wit_parser::{Docs, FunctionKind, Resolve, Type, TypeDefKind, TypeId};

use crate::names::{camel_case, pascal_case};
use crate::types::{Case, Field, Named, ValueType};

/// A capability's shape: a WIT interface, named for JavaScript.
#[derive(Clone, Debug, PartialEq)]
pub struct Interface {
    /// The WIT interface name, which is also the grant name (`shop`).
    pub name: String,
    /// The global object in the sandbox (`my-shop` becomes `myShop`).
    pub global: String,
    /// The interface's doc comment, for the TypeScript a model reads.
    pub docs: Option<String>,
    /// Its functions, in the order declared.
    pub functions: Vec<Function>,
}

/// One function of an [`Interface`]: a method of its global in the sandbox.
#[derive(Clone, Debug, PartialEq)]
pub struct Function {
    /// The WIT name (`list-orders`).
    pub name: String,
    /// The method name in the sandbox (`listOrders`).
    pub method: String,
    /// The function's doc comment, for the TypeScript a model reads.
    pub docs: Option<String>,
    /// Its parameters, in order: a call passes them as positional arguments.
    pub params: Vec<Param>,
    /// What a call resolves to; `None` for a function without a result (`undefined`).
    pub result: Option<ValueType>,
}

impl Function {
    /// How many leading parameters a call must pass: trailing `option` parameters may be left out, as in
    /// JavaScript, and read as null.
    pub fn required_params(&self) -> usize {
        self.params.iter().rposition(|param| !matches!(param.ty, ValueType::Option(_))).map_or(0, |i| i + 1)
    }
}

/// One parameter of a [`Function`].
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// The JavaScript name (`customer-id` becomes `customerId`).
    pub name: String,
    /// The type an argument must have.
    pub ty: ValueType,
}

/// WIT that isobox cannot offer to a sandbox.
#[derive(Debug, thiserror::Error)]
pub enum WitError {
    /// The text is not valid WIT; the message has the position.
    #[error("{0:#}")]
    Parse(anyhow::Error),
    /// A function uses what a sandbox cannot be given (a resource, a stream, an `option<option<T>>`, …).
    #[error("{interface}.{function}: {reason}")]
    Unsupported {
        /// The interface's name.
        interface: String,
        /// The function's WIT name.
        function: String,
        /// What is not supported.
        reason: String,
    },
    /// The package has no interface of the name asked for.
    #[error("no interface named `{0}`")]
    NoSuchInterface(String),
}

/// Every interface of a WIT package, given as source text (`source_name` appears in parse errors).
///
/// # Errors
/// As [`Capability::from_wit`](crate::Capability::from_wit), but for every interface of the package.
pub fn parse_str(source_name: &str, source: &str) -> Result<Vec<Interface>, WitError> {
    let mut resolve = Resolve::new();
    let package = resolve.push_str(source_name, source).map_err(WitError::Parse)?;
    interfaces(&resolve, package)
}

/// Every interface of a WIT file or package directory.
///
/// # Errors
/// The path cannot be read, or as [`parse_str`].
pub fn parse_path(path: &Path) -> Result<Vec<Interface>, WitError> {
    let mut resolve = Resolve::new();
    let (package, _) = resolve.push_path(path).map_err(WitError::Parse)?;
    interfaces(&resolve, package)
}

fn interfaces(resolve: &Resolve, package: wit_parser::PackageId) -> Result<Vec<Interface>, WitError> {
    resolve.packages[package]
        .interfaces
        .iter()
        .map(|(name, &id)| {
            let interface = &resolve.interfaces[id];
            let functions = interface
                .functions
                .values()
                .map(|function| {
                    let unsupported = |reason: String| WitError::Unsupported {
                        interface: name.clone(),
                        function: function.name.clone(),
                        reason,
                    };
                    if !matches!(function.kind, FunctionKind::Freestanding) {
                        return Err(unsupported("only plain (non-async, non-resource) functions are supported".into()));
                    }
                    let params = function
                        .params
                        .iter()
                        .map(|(param, ty)| Ok(Param { name: camel_case(param), ty: convert(resolve, *ty)? }))
                        .collect::<Result<_, String>>()
                        .map_err(unsupported)?;
                    let result = function.result.map(|ty| convert(resolve, ty)).transpose().map_err(unsupported)?;
                    Ok(Function {
                        name: function.name.clone(),
                        method: camel_case(&function.name),
                        docs: docs(&function.docs),
                        params,
                        result,
                    })
                })
                .collect::<Result<_, _>>()?;
            let interface =
                Interface { name: name.clone(), global: camel_case(name), docs: docs(&interface.docs), functions };
            distinct_names(&interface)?;
            Ok(interface)
        })
        .collect()
}

/// Refuses WIT whose distinct names meet once named for JavaScript (`a-b` and `a-B` are both `aB`): a method would
/// replace another, a parameter or field shadow another, a type declaration hide another.
fn distinct_names(interface: &Interface) -> Result<(), WitError> {
    let collision = |function: &Function, what: &str, name: &str| WitError::Unsupported {
        interface: interface.name.clone(),
        function: function.name.clone(),
        reason: format!("two {what} are both named `{name}` in JavaScript"),
    };
    let mut methods = HashSet::new();
    let mut types = HashMap::new();
    for function in &interface.functions {
        if !methods.insert(&function.method) {
            return Err(collision(function, "functions", &function.method));
        }
        let mut params = HashSet::new();
        if let Some(param) = function.params.iter().find(|param| !params.insert(&param.name)) {
            return Err(collision(function, "parameters", &param.name));
        }
        for ty in function.params.iter().map(|param| &param.ty).chain(&function.result) {
            named_types(ty, &mut types).map_err(|(what, name)| collision(function, what, &name))?;
        }
    }
    Ok(())
}

/// Adds the named types `ty` uses to `types`, by their TypeScript name: a different type of the same name, or two
/// fields of one record with one name, are an error.
fn named_types<'a>(
    ty: &'a ValueType,
    types: &mut HashMap<&'a str, &'a ValueType>,
) -> Result<(), (&'static str, String)> {
    let (name, inner): (&str, Vec<&ValueType>) = match ty {
        ValueType::List(inner) | ValueType::Option(inner) => return named_types(inner, types),
        ValueType::Result { ok, err } => {
            return ok.iter().chain(err).try_for_each(|ty| named_types(ty, types));
        }
        ValueType::Tuple(items) => return items.iter().try_for_each(|ty| named_types(ty, types)),
        ValueType::Record(record) => {
            let mut fields = HashSet::new();
            if let Some(field) = record.body.iter().find(|field| !fields.insert(&field.name)) {
                return Err(("fields", format!("{}.{}", record.name, field.name)));
            }
            (&record.name, record.body.iter().map(|field| &field.ty).collect())
        }
        ValueType::Variant(variant) => {
            (&variant.name, variant.body.iter().filter_map(|case| case.ty.as_ref()).collect())
        }
        ValueType::Enum(named) | ValueType::Flags(named) => (&named.name, Vec::new()),
        _ => return Ok(()),
    };
    match types.insert(name, ty) {
        Some(previous) if previous != ty => return Err(("types", name.to_string())),
        Some(_) => return Ok(()),
        None => {}
    }
    inner.into_iter().try_for_each(|ty| named_types(ty, types))
}

fn docs(docs: &Docs) -> Option<String> {
    docs.contents.as_ref().map(|text| text.trim().to_string()).filter(|text| !text.is_empty())
}

fn convert(resolve: &Resolve, ty: Type) -> Result<ValueType, String> {
    let integer = |min: i64, max: i64, wit| ValueType::Integer { min, max, wit };
    use crate::types::MAX_SAFE_INTEGER as SAFE;
    Ok(match ty {
        Type::Bool => ValueType::Bool,
        Type::U8 => integer(0, u8::MAX.into(), "u8"),
        Type::U16 => integer(0, u16::MAX.into(), "u16"),
        Type::U32 => integer(0, u32::MAX.into(), "u32"),
        Type::U64 => integer(0, SAFE, "u64"),
        Type::S8 => integer(i8::MIN.into(), i8::MAX.into(), "s8"),
        Type::S16 => integer(i16::MIN.into(), i16::MAX.into(), "s16"),
        Type::S32 => integer(i32::MIN.into(), i32::MAX.into(), "s32"),
        Type::S64 => integer(-SAFE, SAFE, "s64"),
        Type::F32 => ValueType::Float { wit: "f32" },
        Type::F64 => ValueType::Float { wit: "f64" },
        Type::Char => ValueType::Char,
        Type::String => ValueType::String,
        Type::ErrorContext => return Err("error-context is not supported".into()),
        Type::Id(id) => convert_def(resolve, id)?,
    })
}

fn convert_def(resolve: &Resolve, id: TypeId) -> Result<ValueType, String> {
    let def = &resolve.types[id];
    let boxed = |ty| convert(resolve, ty).map(Box::new);
    Ok(match &def.kind {
        TypeDefKind::Type(ty) => convert(resolve, *ty)?,
        TypeDefKind::List(ty) => ValueType::List(boxed(*ty)?),
        // Both nones of `option<option<T>>` would be `null`: refused rather than guessed.
        TypeDefKind::Option(ty) => match convert(resolve, *ty)? {
            ValueType::Option(_) => {
                return Err("option<option<…>> is not supported: JSON has one `null`, so its outer and inner none \
                            could not be told apart"
                    .into());
            }
            inner => ValueType::Option(Box::new(inner)),
        },
        TypeDefKind::Result(result) => {
            ValueType::Result { ok: result.ok.map(boxed).transpose()?, err: result.err.map(boxed).transpose()? }
        }
        TypeDefKind::Tuple(tuple) => {
            ValueType::Tuple(tuple.types.iter().map(|ty| convert(resolve, *ty)).collect::<Result<_, _>>()?)
        }
        TypeDefKind::Record(record) => ValueType::Record(named(
            def,
            record
                .fields
                .iter()
                .map(|field| {
                    Ok(Field {
                        name: camel_case(&field.name),
                        docs: docs(&field.docs),
                        ty: convert(resolve, field.ty)?,
                    })
                })
                .collect::<Result<_, String>>()?,
        )),
        TypeDefKind::Variant(variant) => ValueType::Variant(named(
            def,
            variant
                .cases
                .iter()
                .map(|case| {
                    Ok(Case {
                        name: case.name.clone(),
                        docs: docs(&case.docs),
                        ty: case.ty.map(|ty| convert(resolve, ty)).transpose()?,
                    })
                })
                .collect::<Result<_, String>>()?,
        )),
        TypeDefKind::Enum(enumeration) => {
            ValueType::Enum(named(def, enumeration.cases.iter().map(|case| case.name.clone()).collect()))
        }
        TypeDefKind::Flags(flags) => {
            ValueType::Flags(named(def, flags.flags.iter().map(|flag| flag.name.clone()).collect()))
        }
        other => return Err(format!("{} types are not supported", kind_name(other))),
    })
}

fn named<T>(def: &wit_parser::TypeDef, body: T) -> Named<T> {
    Named { name: pascal_case(def.name.as_deref().unwrap_or("anonymous")), docs: docs(&def.docs), body }
}

fn kind_name(kind: &TypeDefKind) -> &'static str {
    match kind {
        TypeDefKind::Resource | TypeDefKind::Handle(_) => "resource",
        TypeDefKind::Map(..) => "map",
        TypeDefKind::FixedSizeList(..) => "fixed-size list",
        TypeDefKind::Future(_) => "future",
        TypeDefKind::Stream(_) => "stream",
        _ => "these",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOP: &str = r#"
        package demo:shop;

        /// Orders and customers.
        interface my-shop {
            /// A customer.
            record customer { customer-id: u32, name: string, tags: list<string> }
            enum status { open, shipped }
            type id = u32;

            /// Finds a customer.
            find-customer: func(customer-id: id) -> option<customer>;
            set-status: func(order: u64, status: status) -> result<_, string>;
        }
    "#;

    #[test]
    fn interfaces_functions_and_types_are_named_for_javascript() {
        let interfaces = parse_str("shop.wit", SHOP).unwrap();
        assert_eq!(interfaces.len(), 1);
        let shop = &interfaces[0];
        assert_eq!((shop.name.as_str(), shop.global.as_str()), ("my-shop", "myShop"));
        assert_eq!(shop.docs.as_deref(), Some("Orders and customers."));
        let find = &shop.functions[0];
        assert_eq!((find.name.as_str(), find.method.as_str()), ("find-customer", "findCustomer"));
        assert_eq!(find.params[0].name, "customerId");
        assert_eq!(find.params[0].ty, ValueType::Integer { min: 0, max: u32::MAX.into(), wit: "u32" });
        let Some(ValueType::Option(customer)) = &find.result else { panic!("{:?}", find.result) };
        let ValueType::Record(record) = customer.as_ref() else { panic!("{customer:?}") };
        assert_eq!(record.name, "Customer");
        assert_eq!(record.docs.as_deref(), Some("A customer."));
        let fields: Vec<_> = record.body.iter().map(|field| field.name.as_str()).collect();
        assert_eq!(fields, ["customerId", "name", "tags"]);
    }

    #[test]
    fn unsupported_wit_is_refused_with_a_reason() {
        let error =
            parse_str("r.wit", "package a:b; interface r { resource file; open: func() -> file; }").unwrap_err();
        assert!(error.to_string().contains("r.open: resource types are not supported"), "{error}");
        let nested = [
            "f: func(x: option<option<u8>>);",
            "type maybe = option<string>; record r { x: option<maybe> } f: func() -> list<r>;",
        ];
        for body in nested {
            let error = parse_str("r.wit", &format!("package a:b; interface r {{ {body} }}")).unwrap_err();
            assert!(matches!(error, WitError::Unsupported { .. }), "{body}: {error:?}");
            assert!(error.to_string().starts_with("r.f: option<option<…>> is not supported"), "{body}: {error}");
        }
        let error = parse_str("bad.wit", "package a:b; interface r { f: func(x: nope); }").unwrap_err();
        assert!(matches!(error, WitError::Parse(_)), "{error}");
    }

    #[test]
    fn names_that_meet_in_javascript_are_refused() {
        let cases = [
            ("get-a: func(); get-A: func();", "r.get-A: two functions are both named `getA`"),
            ("f: func(a-b: u8, a-B: u8);", "r.f: two parameters are both named `aB`"),
            ("record t { a-b: u8, a-B: u8 } f: func(t: t);", "r.f: two fields are both named `T.aB`"),
            ("record a-b { x: u8 } enum a-B { x } f: func(a: a-b, b: a-B);", "r.f: two types are both named `AB`"),
        ];
        for (body, expected) in cases {
            let error = parse_str("r.wit", &format!("package a:b; interface r {{ {body} }}")).unwrap_err();
            assert!(error.to_string().contains(expected), "{body}: {error}");
        }
        // One type used twice is one declaration.
        parse_str("r.wit", "package a:b; interface r { record t { x: u8 } f: func(a: t, b: list<t>) -> t; }").unwrap();
    }
}
