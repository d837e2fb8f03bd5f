//! Compile-fail suite: proves that the rules the library enforces by type are
//! really enforced by the compiler.
//!
//! Each program in `tests/ui/` breaks one rule — skipping a step, calling another
//! step's operation, going backwards, reusing a cycle after its transition,
//! criteria without public health, a commitment shorter than three years, a
//! forged stage or cycle — and must fail to compile with the error recorded in
//! its `.stderr` snapshot. Regenerate snapshots with
//! `TRYBUILD=overwrite cargo test --test compile_fail`.

#[test]
fn forbidden_programs_do_not_compile() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
