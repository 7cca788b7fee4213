//! The providers' fake APIs, with scriptable faults, for tests, the demo and
//! `herald simulate`.
