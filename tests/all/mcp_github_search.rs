//! `search` over GitHub's whole REST API (its official OpenAPI document, 1,223 operations): ordinary tasks find the
//! right operation within the default budget of about 1,000 tokens, and the whole API never comes back whole.

use std::path::PathBuf;

use isobox_capabilities::Interface;
use isobox_connectors::{ConnectorConfig, OpenApi};
use isobox_mcp::{DEFAULT_SEARCH_BUDGET, search};

fn github() -> Interface {
    let config = ConnectorConfig {
        openapi: Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/openapi/api.github.com.json")),
        base_url: Some("https://api.github.com".into()),
        ..ConnectorConfig::default()
    };
    OpenApi::load("github", &config).unwrap_or_else(|error| panic!("{error}")).interface().clone()
}

/// The methods an answer declares, in order.
fn methods(answer: &str) -> Vec<&str> {
    answer
        .lines()
        .filter(|line| line.starts_with("  ") && line.contains('('))
        .filter_map(|line| line.trim().split('(').next())
        .collect()
}

#[test]
fn ordinary_tasks_find_their_operation_within_the_budget() {
    let github = [github()];
    let budget = DEFAULT_SEARCH_BUDGET as usize;
    let tasks = [
        ("list open pull requests of a repository", "pullsList"),
        ("add a comment to an issue", "issuesCreateComment"),
        ("star a gist", "gistsStar"),
        ("merge a pull request", "pullsMerge"),
        ("create a release", "reposCreateRelease"),
        ("get the contents of a file in a repository", "reposGetContent"),
        ("list workflow runs of a repository", "actionsListWorkflowRunsForRepo"),
        ("check runs for a commit", "checksListForRef"),
    ];
    let mut misses = Vec::new();
    for (task, expected) in tasks {
        let answer = search(&github, Some(task), budget);
        assert!(answer.len() <= budget, "`{task}`: {} bytes", answer.len());
        let found = methods(&answer);
        if !found.contains(&expected) {
            misses.push(format!("`{task}`: expected {expected}, got {found:?}"));
        }
    }
    assert!(misses.is_empty(), "{misses:#?}");
    // The best match comes first for the plainest tasks.
    assert_eq!(methods(&search(&github, Some("star a gist"), budget)).first(), Some(&"gistsStar"));
    assert_eq!(
        methods(&search(&github, Some("list open pull requests of a repository"), budget)).first(),
        Some(&"pullsList")
    );
}

#[test]
fn the_whole_api_is_an_overview_not_megabytes() {
    let github = [github()];
    let overview = search(&github, None, DEFAULT_SEARCH_BUDGET as usize);
    assert!(overview.len() <= DEFAULT_SEARCH_BUDGET as usize, "{} bytes", overview.len());
    assert!(overview.contains("github (1223 functions)") && overview.contains("pulls* 29"), "{overview}");
    // Whatever the budget, the answer stays within it.
    for budget in [200, 300, 500, 800, 1500, 2500, 6000] {
        for query in ["pull request review comments", "create a repository for the authenticated user", "x"] {
            let answer = search(&github, Some(query), budget);
            assert!(answer.len() <= budget, "`{query}` with {budget}: {} bytes", answer.len());
        }
        assert!(search(&github, None, budget).len() <= budget);
    }
    // A larger budget buys more of the answer, never more than asked.
    let large = search(&github, Some("pull request review"), 20_000);
    assert!(large.len() <= 20_000 && large.len() > 8_000, "{} bytes", large.len());
    assert!(methods(&large).len() >= 10, "{large}");
}
