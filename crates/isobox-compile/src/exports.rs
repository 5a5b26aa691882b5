//! A plugin's exported functions, read from its source: what a host may call.

use swc_common::{FileName, SourceMap, Spanned};
use swc_ecma_ast::{
    Decl, DefaultDecl, EsVersion, ExportSpecifier, Expr, ModuleDecl, ModuleExportName, ModuleItem, Pat, Stmt,
};
use swc_ecma_parser::{self as parser, EsSyntax, Syntax};

use crate::CompileError;

/// The names of the functions an ES module exports: `export [async] function f`, `export const f = (…) => …` (or a
/// function expression), `export { f, g as h }` of such top-level functions, and `export default function`
/// (as `default`). Other exports are not callable and are left out.
///
/// swc's parser recurses once per level of nesting without a bound of its own, so this runs on a stack of
/// [`PARSER_STACK`], which holds the deepest nesting QuickJS compiles: call it only on a source QuickJS compiled.
///
/// # Errors
/// [`CompileError::Syntax`] if the source does not parse as an ES module.
pub(crate) fn exported_functions(source: &str) -> Result<Vec<String>, CompileError> {
    stacker::maybe_grow(PARSER_STACK, PARSER_STACK, || parse(source))
}

/// The stack swc parses a plugin on. QuickJS refuses a source that nests deeper than its stack allows (the guest
/// bounds it at 256 KiB): the deepest it accepts is about 3,000 levels of `!`, 2,000 of `x?y:` or `new`, 800 of
/// `a=>`, 200 of brackets, and each of those parses on a 4 MiB stack (`no_nesting_ends_the_host` in `lib.rs` checks
/// them). Sixteen times that leaves a margin; only what is used of it is touched.
const PARSER_STACK: usize = 64 << 20;

fn parse(source: &str) -> Result<Vec<String>, CompileError> {
    let source_map = SourceMap::default();
    let file = source_map.new_source_file(FileName::Anon.into(), source.to_string());
    let mut recovered = Vec::new();
    let module =
        parser::parse_file_as_module(&file, Syntax::Es(EsSyntax::default()), EsVersion::EsNext, None, &mut recovered)
            .map_err(|error| {
            let at = source_map.lookup_char_pos(error.span().lo);
            CompileError::Syntax {
                message: error.into_kind().msg().into_owned(),
                line: at.line as u32,
                column: at.col_display as u32 + 1,
            }
        })?;

    let mut functions = Vec::new();
    let mut exported = Vec::new();
    let mut renamed = Vec::new();
    for item in &module.body {
        match item {
            ModuleItem::Stmt(Stmt::Decl(decl)) => functions.extend(declared_functions(decl)),
            ModuleItem::ModuleDecl(ModuleDecl::ExportDecl(export)) => exported.extend(declared_functions(&export.decl)),
            ModuleItem::ModuleDecl(ModuleDecl::ExportNamed(named)) if named.src.is_none() => {
                for specifier in &named.specifiers {
                    if let ExportSpecifier::Named(specifier) = specifier {
                        let local = name(&specifier.orig);
                        renamed.push((local.clone(), specifier.exported.as_ref().map_or(local, name)));
                    }
                }
            }
            ModuleItem::ModuleDecl(ModuleDecl::ExportDefaultDecl(export))
                if matches!(export.decl, DefaultDecl::Fn(_)) =>
            {
                exported.push("default".into())
            }
            ModuleItem::ModuleDecl(ModuleDecl::ExportDefaultExpr(export)) if is_function(&export.expr) => {
                exported.push("default".into())
            }
            _ => {}
        }
    }
    exported.extend(renamed.into_iter().filter(|(local, _)| functions.contains(local)).map(|(_, exported)| exported));
    let mut unique = Vec::new();
    for name in exported {
        if !unique.contains(&name) {
            unique.push(name);
        }
    }
    Ok(unique)
}

/// The functions a declaration declares: a function declaration, or variables initialised with functions.
fn declared_functions(decl: &Decl) -> Vec<String> {
    match decl {
        Decl::Fn(function) => vec![function.ident.sym.to_string()],
        Decl::Var(var) => var
            .decls
            .iter()
            .filter(|declarator| declarator.init.as_deref().is_some_and(is_function))
            .filter_map(|declarator| match &declarator.name {
                Pat::Ident(binding) => Some(binding.id.sym.to_string()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn is_function(expr: &Expr) -> bool {
    match expr {
        Expr::Arrow(_) | Expr::Fn(_) => true,
        Expr::Paren(inner) => is_function(&inner.expr),
        _ => false,
    }
}

fn name(name: &ModuleExportName) -> String {
    match name {
        ModuleExportName::Ident(ident) => ident.sym.to_string(),
        ModuleExportName::Str(text) => text.value.to_atom_lossy().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exports(source: &str) -> Vec<String> {
        exported_functions(source).unwrap()
    }

    #[test]
    fn finds_every_kind_of_exported_function() {
        let source = r#"
            export function plain(input) { return input }
            export async function later(input) { return input }
            export const arrow = (input) => input, value = 3;
            const expression = function (input) { return input };
            function helper() {}
            function renamed() {}
            export { expression, renamed as "other name", value as notAFunction };
            export default function (input) { return input }
        "#;
        assert_eq!(exports(source), ["plain", "later", "arrow", "default", "expression", "other name"]);
    }

    #[test]
    fn leaves_out_what_is_not_a_function() {
        assert!(exports("export const x = 1; export class C {}; export * from 'elsewhere';").is_empty());
    }

    #[test]
    fn reports_syntax_errors_with_their_position() {
        match exported_functions("export function f(input) {\n  return input +;\n}") {
            Err(CompileError::Syntax { line, column, .. }) => assert_eq!((line, column), (2, 17)),
            other => panic!("expected a syntax error, got {other:?}"),
        }
    }
}
