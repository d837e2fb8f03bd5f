//! Every counting rule, with a step limit, on small elections and `.pb` files
//! built from arbitrary bytes: counts end, and outcomes keep within the budget.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| medborgarbudget_fuzz::rules(data));
