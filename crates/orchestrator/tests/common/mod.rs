//! The loop over a simulated scenario as the end-to-end tests run it: the real
//! controller, the simulator as its metric source and every actuator, virtual time.

use charter_knowledge::Store;
use charter_model::Charter;
use charter_orchestrator::{Controller, Event};
use charter_sim::{Scenario, Simulator};
use charter_testkit::{EPOCH, actuators, simulator};
use std::sync::Arc;
use std::time::Duration;

/// Runs `charter` over `scenario` (the simulator seeded with `seed`, its clock at
/// [`EPOCH`]) on `store`: one tick per interval from `EPOCH` to the scenario's end,
/// inclusive. Returns every event with its offset from `EPOCH`, and the simulator.
pub async fn run_scenario(
    charter: Arc<Charter>,
    scenario: &Scenario,
    seed: u64,
    store: Arc<dyn Store>,
) -> (Vec<(Duration, Event)>, Simulator) {
    let sim = simulator(scenario, seed, EPOCH);
    let mut c = Controller::new(
        charter.clone(),
        Arc::new(sim.clone()),
        actuators(&charter, Arc::new(sim.clone())),
        store,
        EPOCH,
    )
    .await
    .expect("controller");
    let mut events = Vec::new();
    let mut t = Duration::ZERO;
    while t <= scenario.duration {
        let report = c.tick(EPOCH.plus(t)).await.expect("tick");
        events.extend(report.events.into_iter().map(|e| (t, e.event)));
        t += charter.interval;
    }
    (events, sim)
}
