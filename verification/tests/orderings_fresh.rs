//! Quick-tier freshness check: every ordering site of the core (and each
//! of its one-step weakenings) has a row in the committed table
//! `verification/orderings.md`, with the ordering the source has now, the
//! table has no row for a site that is gone, and no weakening survives as
//! `invisible` (needed, yet unseen by every checker). Only parses `src/`: a
//! fraction of a second. On failure, regenerate the rows with
//! `poolcheck orderings --site ID` (see verification/README.md).

#[path = "../src/bin/poolcheck/orderings/sites.rs"]
#[allow(dead_code)]
mod sites;

use std::path::Path;

#[test]
fn orderings_table_is_up_to_date_with_src() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let sites = sites::core_sites(&root).expect("parse the ordering sites of src/");
    assert!(
        sites.len() > 50,
        "too few ordering sites found: {}",
        sites.len()
    );
    let md = std::fs::read_to_string(root.join("verification/orderings.md"))
        .expect("read verification/orderings.md");
    let problems = sites::check_table(&sites, &md);
    assert!(
        problems.is_empty(),
        "verification/orderings.md is stale:\n{}\nregenerate: poolcheck orderings --site <id> (verification/README.md)",
        problems.join("\n")
    );
}

#[test]
fn mutant_only_lines_and_constants_are_handled() {
    let src = r#"
impl<T> Foo<T> {
    fn op(&self) {
        #[cfg(not(victim_pool_mutant = "m"))]
        self.a.store(1, Ordering::Release);
        #[cfg(victim_pool_mutant = "m")]
        self.a.store(1, Ordering::Relaxed);
        #[cfg(victim_pool_mutant = "m")]
        if self.b.load(Ordering::Relaxed) {
            return;
        }
        const LOAD: Ordering = Ordering::Acquire;
        let _ = self.b.load(LOAD);
        let _ = self.c[0].compare_exchange(0, 1, Ordering::SeqCst, crate::sync::Ordering::Acquire);
        fence(Ordering::SeqCst);
        light_fence();
    }
}
"#;
    let sites = sites::sites_of("src/foo.rs", src).expect("parse");
    let ids: Vec<(&str, &str, Vec<&str>)> = sites
        .iter()
        .map(|s| {
            (
                s.id.as_str(),
                s.ordering.name(),
                s.weakenings().iter().map(|v| v.name()).collect(),
            )
        })
        .collect();
    assert_eq!(
        ids,
        vec![
            ("foo:Foo::op:a.store#0", "Release", vec!["Relaxed"]),
            ("foo:Foo::op:const LOAD#0", "Acquire", vec!["Relaxed"]),
            (
                "foo:Foo::op:c.compare_exchange/success#0",
                "SeqCst",
                vec!["AcqRel"]
            ),
            (
                "foo:Foo::op:c.compare_exchange/failure#0",
                "Acquire",
                vec!["Relaxed"]
            ),
            ("foo:Foo::op:fence#0", "SeqCst", vec!["AcqRel", "removed"]),
            ("foo:Foo::op:light_fence#0", "SeqCst", vec!["removed"]),
        ]
    );
}

#[test]
fn an_invisible_survivor_fails_the_check() {
    let src =
        "impl Foo {\n    fn op(&self) {\n        self.a.store(1, Ordering::Release);\n    }\n}\n";
    let sites = sites::sites_of("src/foo.rs", src).expect("parse");
    let row = |result: &str| {
        format!(
            "| `foo:Foo::op:a.store#0` | foo.rs:3 | Release | Relaxed | {result} | 1.0 s | x |\n"
        )
    };
    assert!(sites::check_table(&sites, &row("killed by `loom::t`")).is_empty());
    assert!(sites::check_table(&sites, &row("**survived** — correct")).is_empty());
    let problems = sites::check_table(&sites, &row("**survived** — invisible"));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("unseen"), "{problems:?}");
}
