//! For backends, not embedders: the host side of one request's capability calls. A backend gets a request's
//! [`HostCalls`] from [`Capabilities::host_calls`](crate::Capabilities::host_calls), builds the sandbox's globals from
//! its [`manifest`](HostCalls::manifest), and turns each call the sandbox makes into [`HostCalls::begin`] and
//! [`PendingCall::finish`], whose [`CallOutcome`] settles the program's promise or ends the request. The checks of
//! arguments, results, limits and approvals all happen here, once for every backend.

pub use crate::dispatch::{CallLog, CallOutcome, HostCalls, PendingCall};
