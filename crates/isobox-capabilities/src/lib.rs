//! Capabilities: the typed host APIs a sandboxed program may call, declared in WIT.
//!
//! One WIT declaration drives everything: the sandbox's JavaScript globals (interface `my-shop` becomes the global
//! `myShop`, function `list-orders` its method `listOrders`, returning a Promise), the checks every argument passes
//! before host code sees it, and the TypeScript declarations an LLM is prompted with. A request reaches only the
//! capabilities it was granted; the others do not exist in its sandbox.
//!
//! The JavaScript encoding of each WIT type is documented in [`types`].

pub mod backend;
mod capability;
mod dispatch;
mod names;
mod registry;
mod rename;
pub mod schema;
mod tenant;
pub mod types;
mod typescript;
mod wit;

pub use capability::{CallContext, CallError, Capability};
pub use names::{camel_case, identifier, pascal_case, unique};
pub use registry::{Capabilities, RegistryError};
pub use rename::distinct_types;
pub use tenant::{MAX_TENANT_BYTES, TenantState, check_tenant};
pub use typescript::{declarations, function_declaration, signature, type_declarations, type_expr};
pub use wit::{Function, Interface, Param, WitError, parse_path, parse_str};
