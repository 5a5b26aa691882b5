//! The capabilities a host offers; each request is granted a subset by name.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use isobox_core::{Request, SandboxError};

use crate::dispatch::HostCalls;
use crate::{Capability, Interface, TenantState, check_tenant};

/// Every capability a backend can grant. Cheap to clone.
#[derive(Clone, Default)]
pub struct Capabilities {
    by_name: BTreeMap<String, Arc<Capability>>,
    /// Every named type's TypeScript declaration, by name, with the capability that declared it first: TypeScript
    /// declares a name once for all granted capabilities, so one name must mean one type.
    types: Arc<HashMap<String, (String, String)>>,
}

impl std::fmt::Debug for Capabilities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capabilities").field("names", &self.by_name.keys().collect::<Vec<_>>()).finish_non_exhaustive()
    }
}

/// A capability that cannot be registered.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RegistryError {
    /// Two capabilities of one name: a grant names one capability.
    #[error("a capability named `{0}` is already registered")]
    Duplicate(String),
    /// Two capabilities whose sandbox globals are the same (`my-shop` and `myShop`).
    #[error("a capability with the global `{global}` is already registered (`{existing}`)")]
    DuplicateGlobal {
        /// The global both would have.
        global: String,
        /// The capability registered first.
        existing: String,
    },
    /// A function the WIT declares has no Rust handler.
    #[error("`{capability}` has no implementation for `{function}`")]
    Unimplemented {
        /// The capability.
        capability: String,
        /// The WIT name of the function.
        function: String,
    },
    /// A handler for a function the WIT does not declare.
    #[error("`{capability}` implements `{function}`, which its WIT does not declare")]
    Undeclared {
        /// The capability.
        capability: String,
        /// The name the handler was given.
        function: String,
    },
    /// A handler's Rust argument types cannot take what the WIT function's parameters allow.
    #[error("the Rust function for `{capability}.{function}` does not take the arguments its WIT declares ({message})")]
    HandlerMismatch {
        /// The capability.
        capability: String,
        /// The WIT name of the function.
        function: String,
        /// Which argument value did not fit the Rust types, and why.
        message: String,
    },
    /// A method name that is not a JavaScript identifier of ASCII letters, digits, `_` and `$`.
    #[error("`{capability}` names a method {method:?}, which is not a JavaScript identifier")]
    BadMethodName {
        /// The capability.
        capability: String,
        /// The method's name in JavaScript.
        method: String,
    },
    /// No registered capability has this name.
    #[error("no capability named `{0}` is registered")]
    NoSuchCapability(String),
    /// A function named to need approval does not exist.
    #[error("`{capability}` has no function `{function}` to mark as needing approval")]
    NoSuchFunction {
        /// The capability.
        capability: String,
        /// The name given.
        function: String,
    },
    /// Two capabilities declare one type name differently.
    #[error(
        "`{capability}` declares a type `{name}` that `{existing}` declares differently: their TypeScript would \
         declare only one of them"
    )]
    TypeConflict {
        /// The type's name.
        name: String,
        /// The capability being registered.
        capability: String,
        /// The capability registered first.
        existing: String,
    },
}

impl Capabilities {
    /// No capabilities: a program granted nothing reaches nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a capability, under its WIT interface name. Every declared function must be implemented, and a named type
    /// that a registered capability declares too must be declared the same.
    ///
    /// # Errors
    /// A capability of the same name or global is registered ([`RegistryError::Duplicate`],
    /// [`RegistryError::DuplicateGlobal`]); a declared function has no implementation, or an implementation has no
    /// declaration ([`RegistryError::Unimplemented`], [`RegistryError::Undeclared`]); an implementation's Rust
    /// arguments cannot take what the WIT declares ([`RegistryError::HandlerMismatch`]); a named type conflicts with a
    /// registered capability's ([`RegistryError::TypeConflict`]); a function marked as needing approval does not
    /// exist ([`RegistryError::NoSuchFunction`]); or a method's JavaScript name is not an identifier of ASCII letters,
    /// digits, `_` and `$` ([`RegistryError::BadMethodName`]). Nothing is registered then.
    ///
    /// # Examples
    /// ```
    /// use isobox_capabilities::{CallError, Capabilities, Capability, RegistryError};
    ///
    /// let wit = "package acme:clock; interface clock { now: func() -> u64; }";
    /// let clock = Capability::from_wit("clock.wit", wit, "clock")?
    ///     .func("now", |_ctx, (): ()| async { Ok::<_, CallError>(1_700_000_000_000u64) });
    /// let mut capabilities = Capabilities::new();
    /// capabilities.register(clock.clone())?;
    /// assert!(matches!(capabilities.register(clock), Err(RegistryError::Duplicate(name)) if name == "clock"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn register(&mut self, mut capability: Capability) -> Result<&mut Self, RegistryError> {
        let interface = &capability.interface;
        let name = interface.name.clone();
        if self.by_name.contains_key(&name) {
            return Err(RegistryError::Duplicate(name));
        }
        if let Some(existing) = self.by_name.values().find(|other| other.interface.global == interface.global) {
            return Err(RegistryError::DuplicateGlobal {
                global: interface.global.clone(),
                existing: existing.interface.name.clone(),
            });
        }
        if let Some(function) = interface.functions.iter().find(|f| !capability.handlers.contains_key(&f.name)) {
            return Err(RegistryError::Unimplemented { capability: name, function: function.name.clone() });
        }
        if let Some((function, message)) = capability.mismatches.first() {
            return Err(RegistryError::HandlerMismatch {
                capability: name,
                function: function.clone(),
                message: message.clone(),
            });
        }
        if let Some(function) = capability.unknown_approvals.first() {
            return Err(RegistryError::NoSuchFunction { capability: name, function: function.clone() });
        }
        if let Some(function) = capability.handlers.keys().find(|h| !interface.functions.iter().any(|f| &f.name == *h))
        {
            return Err(RegistryError::Undeclared { capability: name, function: function.clone() });
        }
        // Every method name isobox makes is one; sandboxes are given the names separated by line breaks.
        if let Some(function) = interface.functions.iter().find(|f| !crate::typescript::is_identifier(&f.method)) {
            return Err(RegistryError::BadMethodName { capability: name, method: function.method.clone() });
        }
        let declared = crate::type_declarations(&interface.functions);
        for (type_name, declaration) in &declared {
            if let Some((existing, previous)) = self.types.get(type_name)
                && previous != declaration
            {
                return Err(RegistryError::TypeConflict {
                    name: type_name.clone(),
                    capability: name,
                    existing: existing.clone(),
                });
            }
        }
        let types = Arc::make_mut(&mut self.types);
        for (type_name, declaration) in declared {
            types.entry(type_name).or_insert_with(|| (name.clone(), declaration));
        }
        let names = capability.interface.functions.iter().map(|f| format!("{}\n", f.method));
        capability.manifest_names = names.chain(["\n".to_string()]).collect();
        capability.manifest_global = serde_json::Value::from(capability.interface.global.as_str()).to_string();
        let positions = capability.interface.functions.iter().enumerate();
        capability.method_indices = positions.map(|(index, f)| (f.method.clone(), index as u32)).collect();
        self.by_name.insert(name, Arc::new(capability));
        Ok(self)
    }

    /// Adds a capability as [`register`](Self::register) does, first renaming each of its named types whose name a
    /// registered capability declares differently: to the capability's name in PascalCase followed by the type's
    /// (a `github` connector's `User` becomes `GithubUser`), numbered should that be taken too. For capabilities made
    /// from documents the host does not write (connectors), where two APIs each with its own `User` are ordinary.
    ///
    /// # Errors
    /// As [`register`](Self::register), except [`RegistryError::TypeConflict`].
    pub fn register_renaming(&mut self, mut capability: Capability) -> Result<&mut Self, RegistryError> {
        capability.interface = crate::rename::distinct(&capability.interface, &self.types);
        self.register(capability)
    }

    /// Marks functions of the registered capability `capability` as needing approval, as
    /// [`Capability::with_approval`] does: for configuration (`--require-approval kv.set`, a connector's list).
    ///
    /// # Errors
    /// No capability of that name ([`RegistryError::NoSuchCapability`]), or it declares no such function
    /// ([`RegistryError::NoSuchFunction`]).
    pub fn require_approval<S: AsRef<str>>(
        &mut self,
        capability: &str,
        functions: impl IntoIterator<Item = S>,
    ) -> Result<&mut Self, RegistryError> {
        let entry =
            self.by_name.get_mut(capability).ok_or_else(|| RegistryError::NoSuchCapability(capability.into()))?;
        let marked = (**entry).clone().with_approval(functions);
        if let Some(function) = marked.unknown_approvals.first() {
            return Err(RegistryError::NoSuchFunction { capability: capability.into(), function: function.clone() });
        }
        *entry = Arc::new(marked);
        Ok(self)
    }

    /// Whether a function of one of the named capabilities needs approval: requests granted them should run through
    /// `isobox_core::approval::Approvals`, so that a stop can be continued.
    pub fn needs_approval(&self, grants: &[impl AsRef<str>]) -> bool {
        grants.iter().any(|grant| self.by_name.get(grant.as_ref()).is_some_and(|c| !c.approval.is_empty()))
    }

    /// Whether any registered function needs approval.
    pub fn any_needs_approval(&self) -> bool {
        self.by_name.values().any(|capability| !capability.approval.is_empty())
    }

    /// The interface of the capability registered as `name`.
    pub fn get(&self, name: &str) -> Option<&Interface> {
        self.by_name.get(name).map(|capability| &capability.interface)
    }

    /// The registered capabilities' interfaces, by name.
    pub fn interfaces(&self) -> impl Iterator<Item = &Interface> {
        self.by_name.values().map(|capability| &capability.interface)
    }

    /// TypeScript declarations for the named capabilities, in the order given: what a model is prompted with, so that
    /// the programs it writes call them correctly.
    ///
    /// # Errors
    /// A name that is not registered (a `capability` error, as a request granted it would get).
    ///
    /// # Examples
    /// ```
    /// use isobox_capabilities::{CallError, Capabilities, Capability};
    ///
    /// let wit = "package acme:clock; interface clock { /// Milliseconds since 1970.\n now: func() -> u64; }";
    /// let clock = Capability::from_wit("clock.wit", wit, "clock")?
    ///     .func("now", |_ctx, (): ()| async { Ok::<_, CallError>(1_700_000_000_000u64) });
    /// let mut capabilities = Capabilities::new();
    /// capabilities.register(clock)?;
    /// let typescript = capabilities.typescript(&["clock"])?;
    /// assert!(typescript.contains("now(): Promise<number>;"), "{typescript}");
    /// assert!(capabilities.typescript(&["weather"]).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn typescript(&self, grants: &[impl AsRef<str>]) -> Result<String, SandboxError> {
        let interfaces = grants
            .iter()
            .map(|grant| self.lookup(grant.as_ref()).map(|c| &c.interface))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(crate::typescript::declarations(interfaces))
    }

    /// The host side of one request: its granted capabilities and its limits. For backends.
    ///
    /// # Errors
    /// An unknown grant, or a tenant name that [`check_tenant`] refuses: a `capability` error.
    pub fn host_calls(&self, request: &Request) -> Result<HostCalls, SandboxError> {
        if let Some(tenant) = &request.options.tenant {
            check_tenant(tenant).map_err(|message| SandboxError::Capability { message })?;
        }
        let granted =
            request.options.grants.iter().map(|grant| self.lookup(grant).cloned()).collect::<Result<Vec<_>, _>>()?;
        Ok(HostCalls::new(granted, request))
    }

    /// Makes `tenant` temporary in every capability that keeps state per tenant: its state is deleted by
    /// [`end_tenant`](Self::end_tenant), or expires once idle if the process stops first. May block on storage.
    ///
    /// # Errors
    /// A capability's storage failed; the message names the capability.
    pub fn begin_temporary_tenant(&self, tenant: &str) -> Result<(), String> {
        self.tenant_states().try_for_each(|state| state.begin_temporary(tenant))
    }

    /// Deletes what every capability keeps for `tenant`. May block on storage.
    ///
    /// # Errors
    /// A capability's storage failed; the message names the capability.
    pub fn end_tenant(&self, tenant: &str) -> Result<(), String> {
        self.tenant_states().try_for_each(|state| state.end(tenant))
    }

    fn tenant_states(&self) -> impl Iterator<Item = &Arc<dyn TenantState>> {
        self.by_name.values().filter_map(|capability| capability.tenant_state.as_ref())
    }

    fn lookup(&self, name: &str) -> Result<&Arc<Capability>, SandboxError> {
        self.by_name.get(name).ok_or_else(|| SandboxError::Capability {
            message: format!(
                "unknown capability `{name}` (registered: {})",
                self.by_name.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CallError;

    const WIT: &str = "package t:t; interface greeter { hello: func(name: string) -> string; bye: func(); }";

    fn greeter() -> Capability {
        Capability::from_wit("t.wit", WIT, "greeter").unwrap()
    }

    #[test]
    fn a_method_name_that_is_not_a_javascript_identifier_is_refused() {
        for (method, refused) in
            [("hello", false), ("_a1$", false), ("a b", true), ("x\ny", true), ("1a", true), ("", true)]
        {
            let mut interface = greeter().interface.clone();
            interface.functions.retain(|f| f.name == "hello");
            interface.functions[0].method = method.into();
            let capability = Capability::new(interface)
                .func("hello", |_, (name,): (String,)| async move { Ok::<_, CallError>(name) });
            let error = Capabilities::new().register(capability).err();
            let expected =
                refused.then(|| RegistryError::BadMethodName { capability: "greeter".into(), method: method.into() });
            assert_eq!(error, expected, "{method:?}");
        }
    }

    #[test]
    fn every_declared_function_must_be_implemented_and_nothing_else() {
        let half = greeter().func("hello", |_, (name,): (String,)| async move { Ok::<_, CallError>(name) });
        let error = Capabilities::new().register(half.clone()).err();
        assert_eq!(error, Some(RegistryError::Unimplemented { capability: "greeter".into(), function: "bye".into() }));

        let extra = half
            .clone()
            .func("bye", |_, ()| async { Ok::<_, CallError>(()) })
            .func("oops", |_, ()| async { Ok::<_, CallError>(()) });
        let error = Capabilities::new().register(extra).err();
        assert_eq!(error, Some(RegistryError::Undeclared { capability: "greeter".into(), function: "oops".into() }));

        let full = half.func("bye", |_, ()| async { Ok::<_, CallError>(()) });
        let mut capabilities = Capabilities::new();
        capabilities.register(full.clone()).unwrap();
        assert_eq!(capabilities.register(full).err(), Some(RegistryError::Duplicate("greeter".into())));
        assert_eq!(capabilities.interfaces().count(), 1);
        assert!(capabilities.typescript(&["greeter"]).unwrap().contains("hello(name: string): Promise<string>;"));
        assert_eq!(capabilities.typescript(&["nope"]).unwrap_err().kind(), "capability");
    }

    #[test]
    fn a_rust_function_that_cannot_take_its_wit_arguments_is_refused_at_registration() {
        let wit = "package t:t; interface shapes {
            record item { sku: string, quantity: u32 }
            variant shape { dot, circle(f64) }
            place: func(items: list<item>, note: option<string>, shape: shape);
        }";
        let shapes = || Capability::from_wit("t.wit", wit, "shapes").unwrap();
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        struct Item {
            sku: String,
            quantity: u32,
        }
        #[derive(serde::Deserialize)]
        #[serde(tag = "tag", content = "val", rename_all = "kebab-case")]
        #[allow(dead_code)]
        enum Shape {
            Dot,
            Circle(f64),
        }
        let register = |capability: Capability| Capabilities::new().register(capability).map(|_| ()).err();
        // Fits: the WIT's types as Rust types.
        let right =
            shapes().func("place", |_, (_, _, _): (Vec<Item>, Option<String>, Shape)| async { Ok::<_, CallError>(()) });
        assert_eq!(register(right), None);
        // Each of these would fail every call at run time.
        let too_few = shapes().func("place", |_, (_, _): (Vec<Item>, Option<String>)| async { Ok::<_, CallError>(()) });
        let wrong_type =
            shapes().func("place", |_, (_, _, _): (Vec<u32>, Option<String>, Shape)| async { Ok::<_, CallError>(()) });
        let not_optional =
            shapes().func("place", |_, (_, _, _): (Vec<Item>, String, Shape)| async { Ok::<_, CallError>(()) });
        for wrong in [too_few, wrong_type, not_optional] {
            match register(wrong) {
                Some(RegistryError::HandlerMismatch { capability, function, message }) => {
                    assert_eq!((capability.as_str(), function.as_str()), ("shapes", "place"), "{message}");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    /// A capability answering every call with null.
    fn stub(wit: &str, name: &str) -> Capability {
        let capability = Capability::from_wit("t.wit", wit, name).unwrap();
        let functions: Vec<String> = capability.interface().functions.iter().map(|f| f.name.clone()).collect();
        functions.iter().fold(capability, |capability, function| {
            capability.handler(function, |_, _| async { Ok::<_, CallError>(serde_json::Value::Null) })
        })
    }

    #[test]
    fn a_type_name_means_one_type_across_capabilities() {
        let orders = stub("package t:a; interface orders { record item { id: u32 } get: func() -> item; }", "orders");
        let same = "package t:b; interface stock { record item { id: u32 } count: func(i: item) -> u32; }";
        let other = "package t:c; interface notes { record item { text: string } all: func() -> list<item>; }";
        let mut capabilities = Capabilities::new();
        capabilities.register(orders).unwrap();
        capabilities.register(stub(same, "stock")).unwrap();
        let error = capabilities.register(stub(other, "notes")).err();
        let expected =
            RegistryError::TypeConflict { name: "Item".into(), capability: "notes".into(), existing: "orders".into() };
        assert_eq!(error, Some(expected));
        assert!(capabilities.get("notes").is_none());
        // The conflict is found however deep the type is.
        let nested =
            "package t:d; interface deep { record box { items: list<item> } record item { n: u8 } f: func(b: box); }";
        let error = capabilities.clone().register(stub(nested, "deep")).expect_err("refused");
        assert!(error.to_string().contains("`deep` declares a type `Item` that `orders`"), "{error}");
        let typescript = capabilities.typescript(&["orders", "stock"]).unwrap();
        assert_eq!(typescript.matches("type Item = ").count(), 1, "{typescript}");
    }

    #[test]
    fn a_request_with_an_invalid_tenant_gets_no_host_calls() {
        let capabilities = Capabilities::new();
        let request = |tenant: &str| Request::new("").with_tenant(tenant);
        let error = capabilities.host_calls(&request("a\0b")).expect_err("refused");
        assert_eq!(error.kind(), "capability");
        assert!(error.to_string().contains("tenant"), "{error}");
        assert!(capabilities.host_calls(&request("")).is_err());
        assert!(capabilities.host_calls(&request("mcp-0b7e3f7c2d9a4e1f8c6b5a4d3e2f1a0b")).is_ok());
        assert!(capabilities.host_calls(&Request::new("")).is_ok());
    }

    #[test]
    fn ending_a_tenant_reaches_every_capability_with_state() {
        use std::sync::Mutex;
        #[derive(Default)]
        struct Log(Mutex<Vec<String>>);
        impl TenantState for Log {
            fn begin_temporary(&self, tenant: &str) -> Result<(), String> {
                self.0.lock().unwrap().push(format!("begin {tenant}"));
                Ok(())
            }
            fn end(&self, tenant: &str) -> Result<(), String> {
                self.0.lock().unwrap().push(format!("end {tenant}"));
                Ok(())
            }
        }
        let log = Arc::new(Log::default());
        let stateful = greeter()
            .func("hello", |_, (name,): (String,)| async move { Ok::<_, CallError>(name) })
            .func("bye", |_, ()| async { Ok::<_, CallError>(()) })
            .with_tenant_state(log.clone());
        let mut capabilities = Capabilities::new();
        capabilities.register(stateful).unwrap();
        capabilities.begin_temporary_tenant("s1").unwrap();
        capabilities.end_tenant("s1").unwrap();
        assert_eq!(*log.0.lock().unwrap(), ["begin s1", "end s1"]);
    }
}
