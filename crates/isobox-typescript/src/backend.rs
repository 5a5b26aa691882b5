//! Any backend, taking TypeScript: programs have their types erased on the way in.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use isobox_core::{Backend, Outcome, Request};

use crate::to_javascript;

/// A [`Backend`] whose programs may be TypeScript or JavaScript, optionally in a markdown code fence: each is turned
/// into JavaScript with [`to_javascript`] and run on the wrapped backend. A program that cannot be turned into
/// JavaScript is a `syntax` error at its position and never reaches a sandbox. The time spent erasing types counts in
/// the outcome's `total_us`.
///
/// JavaScript is TypeScript without types, with one rare exception: `a < b > (c)` compares in JavaScript and is a
/// generic call in TypeScript (write `(a < b) > c`). Wrap a backend only where programs may be TypeScript.
pub struct TypeScript {
    backend: Arc<dyn Backend>,
}

impl std::fmt::Debug for TypeScript {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypeScript").field("backend", &self.backend.name()).finish_non_exhaustive()
    }
}

impl TypeScript {
    /// Wraps `backend`, which runs every program after its types are erased; the wrapper reports the wrapped
    /// backend's name.
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Self { backend }
    }
}

#[async_trait]
impl Backend for TypeScript {
    fn name(&self) -> &'static str {
        self.backend.name()
    }

    async fn run(&self, request: &Request) -> Outcome {
        let started = Instant::now();
        let javascript = to_javascript(&request.code);
        let erasing_us = started.elapsed().as_micros() as u64;
        match javascript {
            Ok(code) => {
                let mut outcome = self.backend.run(&Request { code, ..request.clone() }).await;
                outcome.metrics.total_us += erasing_us;
                outcome
            }
            Err(error) => Outcome::rejected(self.name(), error, started),
        }
    }
}

#[cfg(test)]
mod tests {
    use isobox_core::{Metrics, SandboxError};
    use serde_json::Value;

    use super::*;

    /// A backend whose result is the program it was given.
    struct Echo;

    #[async_trait]
    impl Backend for Echo {
        fn name(&self) -> &'static str {
            "echo"
        }

        async fn run(&self, request: &Request) -> Outcome {
            Outcome {
                result: Ok(Value::String(request.code.clone())),
                logs: Vec::new(),
                calls: Vec::new(),
                metrics: Metrics { backend: "echo".into(), ..Metrics::default() },
            }
        }
    }

    #[tokio::test]
    async fn the_backend_runs_the_javascript() {
        let backend = TypeScript::new(Arc::new(Echo));
        let outcome = backend.run(&Request::new("```ts\nconst n: number = 1;\nreturn n;\n```")).await;
        assert_eq!(outcome.result.unwrap(), "\nconst n         = 1;\nreturn n;\n");
        assert_eq!(outcome.metrics.backend, "echo");
    }

    #[tokio::test]
    async fn a_program_that_cannot_be_erased_never_reaches_the_backend() {
        let backend = TypeScript::new(Arc::new(Echo));
        let outcome = backend.run(&Request::new("return 1;\nenum Color { Red }")).await;
        let Err(SandboxError::Syntax { message, line, column }) = outcome.result else { panic!("{outcome:?}") };
        assert_eq!((line, column), (2, 1));
        assert!(message.contains("enum"), "{message}");
        assert_eq!(outcome.metrics.backend, "echo");
    }
}
