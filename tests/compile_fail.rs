//! Misuse that must not compile: the roles and lifetimes are in the types.

#![cfg(not(miri))]

#[test]
fn misuse_does_not_compile() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/compile_fail/*.rs");
}
