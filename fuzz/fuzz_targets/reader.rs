//! The `.pb` reader on arbitrary bytes: every way of reading agrees with
//! `check`, and what parses writes out and reads back the same.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| medborgarbudget_fuzz::reader(data));
