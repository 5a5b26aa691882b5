//! Renaming a capability's named types, so that two capabilities that each declare, say, a different `User` can be
//! granted together: the TypeScript a model reads has one `type` per name.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::types::{Case, Field, Named, Object, Property, ValueType};
use crate::wit::{Function, Interface, Param};

/// New names for some named types: `None` keeps a name.
pub(crate) type Rename<'a> = &'a dyn Fn(&str) -> Option<String>;

impl Interface {
    /// This interface with its named types renamed by `rename` (aliases, records, variants, enums and flags, and
    /// every reference to them). Types shared between functions stay shared.
    pub(crate) fn with_types_renamed(&self, rename: Rename) -> Interface {
        let mut renamer = Renamer { rename, aliases: HashMap::new() };
        let functions = self
            .functions
            .iter()
            .map(|function| Function {
                params: function
                    .params
                    .iter()
                    .map(|param| Param { name: param.name.clone(), ty: renamer.ty(&param.ty) })
                    .collect(),
                result: function.result.as_ref().map(|ty| renamer.ty(ty)),
                ..function.clone()
            })
            .collect();
        Interface { functions, ..self.clone() }
    }
}

/// Declarations by type name, with the capability that made each: what TypeScript already declares.
pub(crate) type Declared = HashMap<String, (String, String)>;

/// `interface` with each named type that `declared` already declares differently renamed to the interface's global
/// in PascalCase followed by the type's name (`github`'s `User` becomes `GithubUser`), numbered should that be taken
/// too. Renaming a type changes the declarations that use it, so this goes on until nothing conflicts.
pub(crate) fn distinct(interface: &Interface, declared: &Declared) -> Interface {
    let prefix = crate::pascal_case(&interface.name);
    let mut renames: HashMap<String, String> = HashMap::new();
    let mut current = interface.clone();
    loop {
        let own = crate::type_declarations(&current.functions);
        let conflicts: Vec<&String> = own
            .iter()
            .filter(|(name, declaration)| declared.get(name).is_some_and(|(_, existing)| existing != declaration))
            .map(|(name, _)| name)
            .collect();
        if conflicts.is_empty() {
            return current;
        }
        let mut taken: HashSet<&str> = declared.keys().map(String::as_str).collect();
        taken.extend(own.iter().map(|(name, _)| name.as_str()));
        let mut fresh = Vec::new();
        for name in conflicts {
            // The name in the interface as given: renames compose from the original.
            let original = renames.iter().find(|(_, new)| *new == name).map_or(name.clone(), |(old, _)| old.clone());
            let base = format!("{prefix}{original}");
            let mut candidate = base.clone();
            let mut counter = 2;
            while taken.contains(candidate.as_str())
                || fresh.iter().any(|(_, new): &(String, String)| *new == candidate)
            {
                candidate = format!("{base}{counter}");
                counter += 1;
            }
            fresh.push((original, candidate));
        }
        renames.extend(fresh);
        current = interface.with_types_renamed(&|name| renames.get(name).cloned());
    }
}

/// `interfaces` with the named types of each renamed where an earlier one declares the same name differently (see
/// [`Capabilities::register_renaming`](crate::Capabilities::register_renaming)): declarations for all of them at once
/// that say what each one means.
pub fn distinct_types(interfaces: Vec<Interface>) -> Vec<Interface> {
    let mut declared = Declared::new();
    interfaces
        .into_iter()
        .map(|interface| {
            let interface = distinct(&interface, &declared);
            for (name, declaration) in crate::type_declarations(&interface.functions) {
                declared.entry(name).or_insert_with(|| (interface.name.clone(), declaration));
            }
            interface
        })
        .collect()
}

struct Renamer<'a> {
    rename: Rename<'a>,
    /// Aliases already renamed, by the address of what they alias: a large API uses one alias in many places.
    aliases: HashMap<*const Named<ValueType>, ValueType>,
}

impl Renamer<'_> {
    fn name(&self, name: &str) -> String {
        (self.rename)(name).unwrap_or_else(|| name.to_string())
    }

    fn named<T: Clone>(&self, named: &Named<T>, body: T) -> Named<T> {
        Named { name: self.name(&named.name), docs: named.docs.clone(), body }
    }

    fn ty(&mut self, ty: &ValueType) -> ValueType {
        match ty {
            ValueType::List(inner) => ValueType::List(Box::new(self.ty(inner))),
            ValueType::Option(inner) => ValueType::Option(Box::new(self.ty(inner))),
            ValueType::Declared(inner) => ValueType::Declared(Box::new(self.ty(inner))),
            ValueType::Result { ok, err } => ValueType::Result {
                ok: ok.as_ref().map(|ty| Box::new(self.ty(ty))),
                err: err.as_ref().map(|ty| Box::new(self.ty(ty))),
            },
            ValueType::Tuple(types) => ValueType::Tuple(types.iter().map(|ty| self.ty(ty)).collect()),
            ValueType::Union(types) => ValueType::Union(types.iter().map(|ty| self.ty(ty)).collect()),
            ValueType::Object(object) => ValueType::Object(Arc::new(Object {
                properties: object
                    .properties
                    .iter()
                    .map(|property| Property { ty: self.ty(&property.ty), ..property.clone() })
                    .collect(),
                additional: object.additional.as_ref().map(|ty| Box::new(self.ty(ty))),
            })),
            ValueType::Alias(alias) => {
                let key = Arc::as_ptr(alias);
                if let Some(done) = self.aliases.get(&key) {
                    return done.clone();
                }
                let body = self.ty(&alias.body);
                let renamed = ValueType::Alias(Arc::new(self.named(alias, body)));
                self.aliases.insert(key, renamed.clone());
                renamed
            }
            ValueType::Ref(name) => ValueType::Ref(self.name(name)),
            ValueType::Record(record) => {
                let fields =
                    record.body.iter().map(|field| Field { ty: self.ty(&field.ty), ..field.clone() }).collect();
                ValueType::Record(self.named(record, fields))
            }
            ValueType::Variant(variant) => {
                let cases = variant
                    .body
                    .iter()
                    .map(|case| Case { ty: case.ty.as_ref().map(|ty| self.ty(ty)), ..case.clone() })
                    .collect();
                ValueType::Variant(self.named(variant, cases))
            }
            ValueType::Enum(cases) => ValueType::Enum(self.named(cases, cases.body.clone())),
            ValueType::Flags(flags) => ValueType::Flags(self.named(flags, flags.body.clone())),
            ValueType::Bool
            | ValueType::Integer { .. }
            | ValueType::Float { .. }
            | ValueType::Char
            | ValueType::String
            | ValueType::Any
            | ValueType::Null
            | ValueType::Literal(_) => ty.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::schema::SchemaConverter;

    #[test]
    fn named_types_and_their_references_are_renamed_everywhere() {
        let document = json!({
            "$defs": {
                "user": { "type": "object", "properties": { "login": { "type": "string" }, "friends": { "type": "array", "items": { "$ref": "#/$defs/user" } } } },
            },
            "type": "object", "properties": { "owner": { "$ref": "#/$defs/user" }, "author": { "$ref": "#/$defs/user" } }
        });
        let ty = SchemaConverter::new(&document).convert(&document);
        let function = |name: &str| Function {
            name: name.into(),
            method: name.into(),
            docs: None,
            params: vec![Param { name: "p".into(), ty: ty.clone() }],
            result: Some(ValueType::Declared(Box::new(ty.clone()))),
        };
        let interface = Interface {
            name: "git".into(),
            global: "git".into(),
            docs: None,
            functions: vec![function("a"), function("b")],
        };
        let renamed = interface.with_types_renamed(&|name| (name == "User").then(|| "GitUser".to_string()));
        let declared = crate::declarations([&renamed]);
        assert!(
            declared.contains(
                "a(p: { author?: GitUser; owner?: GitUser }): Promise<{ author?: GitUser; owner?: GitUser }>;"
            ),
            "{declared}"
        );
        assert!(declared.contains("type GitUser = { friends?: GitUser[]; login?: string };"), "{declared}");
        assert!(!declared.replace("GitUser", "").contains("User"), "{declared}");
        // Three interfaces each declaring a `User`: the first keeps the name, the others' are renamed where they
        // differ from it, and what uses them follows.
        let parse = |name: &str, source: &str| crate::wit::parse_str(name, source).unwrap().remove(0);
        let gitlab = parse(
            "g.wit",
            "package g:g; interface gitlab { record user { id: u32 } record repo { owner: user } get: func() -> repo; }",
        );
        let plain = parse("p.wit", "package p:p; interface plain { record user { id: u32 } f: func() -> user; }");
        let both = distinct_types(vec![interface.clone(), gitlab, plain]);
        let declared = crate::declarations(&both);
        assert!(declared.contains("type User = { friends?: User[]; login?: string };"), "{declared}");
        assert!(declared.contains("type GitlabUser = { id: number };"), "{declared}");
        assert!(declared.contains("type Repo = { owner: GitlabUser };"), "{declared}");
        assert!(declared.contains("type PlainUser = { id: number };"), "{declared}");
        assert!(declared.contains("f(): Promise<PlainUser>;"), "{declared}");
        // The checks are those of the original.
        let param = &renamed.functions[0].params[0].ty;
        assert!(param.check(&json!({ "owner": { "login": "a" } })).is_ok());
        assert!(param.check(&json!({ "owner": { "login": 1 } })).is_err());
    }
}
