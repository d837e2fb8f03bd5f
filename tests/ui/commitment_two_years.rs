// A programme must commit to at least three years: `Commitment::<2>` cannot be made.
use medborgarbudget::process::Commitment;

fn main() {
    let _two_years = Commitment::<2>::new();
}
