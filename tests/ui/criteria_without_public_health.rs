// CriteriaSet must include a public-health criterion: without one, `build` does not exist.
use medborgarbudget::criteria::CriteriaSet;

fn main() {
    let _criteria = CriteriaSet::builder()
        .social_sustainability("meeting-places", "Brings neighbours together", 2)
        .other("upkeep", "Low running costs", 1)
        .build();
}
