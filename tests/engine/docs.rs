//! The README's generated tables against the code they describe: the rule
//! table is `flowguard rules --markdown` with the default configuration,
//! rendered from the rule catalogue, so a rule, a threshold default or a
//! remediation line changed in the code fails here until the README says
//! the same.

use flowguard::config::Config;
use flowguard::report::{asff_markdown, remediation_markdown, rules_markdown};

fn readme() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    std::fs::read_to_string(path).expect("README.md")
}

/// The text between `<!-- NAME:begin ... -->` and `<!-- NAME:end -->`.
fn block(text: &str, name: &str) -> String {
    let begin = format!("<!-- {name}:begin");
    let start = text
        .find(&begin)
        .unwrap_or_else(|| panic!("README has no {begin} marker"));
    let body = &text[start..];
    let body = &body[body.find('\n').map_or(0, |i| i + 1)..];
    let end = body
        .find(&format!("<!-- {name}:end -->"))
        .unwrap_or_else(|| panic!("README has no {name}:end marker"));
    body[..end].to_string()
}

#[test]
fn readme_rule_table_is_the_catalogue() {
    let want = rules_markdown(&Config::default());
    let got = block(&readme(), "rules");
    assert_eq!(
        got, want,
        "README.md's rule table differs from the catalogue: paste `flowguard rules --markdown`"
    );
}

#[test]
fn readme_remediation_table_is_the_catalogue() {
    let got = block(&readme(), "remediation");
    assert_eq!(
        got,
        remediation_markdown(),
        "README.md's remediation table differs from the catalogue"
    );
}

#[test]
fn readme_security_hub_mapping_is_the_catalogue() {
    assert_eq!(
        block(&readme(), "asff"),
        asff_markdown(),
        "README.md's Security Hub mapping differs from the catalogue: run scripts/readme_tables.py"
    );
}
