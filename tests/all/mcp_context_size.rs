//! What the demo `shop` API costs in a model's context, served the Code Mode way and the classic way. Prints the
//! table the README quotes (`cargo test --release --test all mcp_context_size -- --nocapture`).

use isobox_core::Limits;
use isobox_mcp::{ContextSize, classic_tools, search, tokens};

#[test]
fn the_typescript_api_costs_less_context_than_a_tool_per_function() {
    let shop = [isobox_shop::capability().interface().clone()];
    let size = ContextSize::of(&shop, &Limits::default());
    println!("{size}");

    // The sizes are those of what a client passes on.
    assert_eq!(size.code_mode_search, search(&shop, None, isobox_mcp::DEFAULT_SEARCH_BUDGET as usize).len());
    assert_eq!(size.classic_tools, serde_json::to_string(&classic_tools(&shop)).unwrap().len());
    assert_eq!(tokens(size.code_mode()), size.code_mode().div_ceil(4));

    // The whole API as TypeScript, result types included, is smaller than the classic tools' arguments alone...
    assert!(size.code_mode_search < size.classic_tools, "{size}");
    // ...and with isobox's two tools added, smaller than classic tools that say as much (their result types).
    assert!(size.code_mode() < size.classic_tools_with_results, "{size}");
}
