// Criteria must include a social-sustainability criterion: without one, `build` does not exist.
use medborgarbudget::criteria::Criteria;

fn main() {
    let _criteria = Criteria::builder()
        .public_health("movement", "Invites people to move", 1)
        .other("upkeep", "Low running costs", 1)
        .build();
}
