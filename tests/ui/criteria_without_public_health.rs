// Criteria must include a public-health criterion: without one, `build` does not exist.
use medborgarbudget::criteria::Criteria;

fn main() {
    let _criteria = Criteria::builder()
        .social_sustainability("meeting-places", "Brings neighbours together", 2)
        .other("upkeep", "Low running costs", 1)
        .build();
}
