// CriteriaSet must include a social-sustainability criterion: without one, `build` does not exist.
use medborgarbudget::criteria::CriteriaSet;

fn main() {
    let _criteria = CriteriaSet::builder()
        .public_health("movement", "Invites people to move", 1)
        .other("upkeep", "Low running costs", 1)
        .build();
}
