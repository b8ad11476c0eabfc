//! Executions (placeholder until written).
pub struct Execution; pub enum ExecutionPhase {} pub struct Step; pub enum StepStatus {} pub fn classify_outcome() {}
