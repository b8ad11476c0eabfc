//! The Westworld simulator as the loop's world in a test: one epoch, a simulator
//! over a scenario, and a charter's actuators all pointed at one actuator.

use charter_execute::Actuator;
use charter_model::{Charter, Timestamp};
use charter_sim::{Scenario, Simulator, World};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Where virtual time starts in simulator tests: 2026-01-01T00:00:00Z.
pub const EPOCH: Timestamp = Timestamp(1_767_225_600_000);

/// The simulator over `scenario` with this seed, its clock at `epoch`.
pub fn simulator(scenario: &Scenario, seed: u64, epoch: Timestamp) -> Simulator {
    Simulator::new(World::new(scenario, seed), epoch)
}

/// Every actuator `charter` declares, each one `actuator` (the simulator itself, or a
/// wrapper around it that fails on purpose).
pub fn actuators(
    charter: &Charter,
    actuator: Arc<dyn Actuator>,
) -> BTreeMap<String, Arc<dyn Actuator>> {
    charter
        .actuators
        .keys()
        .map(|k| (k.clone(), actuator.clone()))
        .collect()
}
