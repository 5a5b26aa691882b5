//! TypeScript programs through the library, on every backend: their types are erased before the sandbox sees them,
//! and every position in errors and stacks is that of the program as written.

use crate::common;

use std::sync::Arc;

use isobox::{Backend, Request, SandboxError, TypeScript};
use serde_json::json;

#[tokio::test]
async fn typescript_runs_on_every_backend_with_its_positions() {
    for (name, backend) in common::all() {
        let backend = TypeScript::new(Arc::clone(backend));
        let sum = "type Pair = [number, number];\nconst [a, b]: Pair = input as Pair;\nreturn a + b;";
        let outcome = backend.run(&Request::new(sum).with_input(json!([1, 2]))).await;
        assert_eq!(outcome.result.unwrap(), 3, "{name}");
        assert_eq!(outcome.metrics.backend, *name);

        let fenced = "```ts\nconst label: string = 'x';\nthrow new TypeError(`no ${label}`);\n```";
        let outcome = backend.run(&Request::new(fenced)).await;
        let Err(SandboxError::Exception { message, stack, .. }) = outcome.result else { panic!("{name}: {outcome:?}") };
        assert_eq!(message, "no x", "{name}");
        let stack = stack.unwrap_or_default();
        assert!(stack.contains("agent.js:3:"), "{name}: the fence line counts: {stack}");

        let outcome = backend.run(&Request::new("const n: number = 1;\nenum Color { Red }")).await;
        let Err(SandboxError::Syntax { message, line, column }) = outcome.result else { panic!("{name}: {outcome:?}") };
        assert_eq!((line, column), (2, 1), "{name}: {message}");
        assert_eq!(outcome.metrics.backend, *name);
    }
}
