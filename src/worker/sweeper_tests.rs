//! The sweeper's own arithmetic: its reach of PostgreSQL, and the permits it takes.

use super::*;

#[test]
fn recovery_waits_for_a_whole_lease_of_answered_statements() {
    let start = Instant::now();
    let mut reach = Reach::new(start);
    assert!(!reach.for_at_least(Duration::from_secs(3600)));
    assert!(reach.for_at_least(Duration::ZERO));
    reach.note_at(false, start);
    assert!(!reach.for_at_least(Duration::ZERO), "an outage resets it");
    reach.note_at(true, start + Duration::from_secs(1));
    assert_eq!(reach.since, Some(start + Duration::from_secs(1)));
    reach.note_at(true, start + Duration::from_secs(2));
    assert_eq!(reach.since, Some(start + Duration::from_secs(1)), "kept");
}

#[test]
fn take_free_takes_what_is_free_up_to_most() {
    let semaphore = Arc::new(Semaphore::new(5));
    let held = semaphore.clone().try_acquire_many_owned(2).expect("free");
    let taken = take_free(&semaphore, 10).expect("three free");
    assert_eq!(taken.num_permits(), 3);
    assert!(take_free(&semaphore, 10).is_none());
    drop((held, taken));
    assert_eq!(take_free(&semaphore, 4).map(|p| p.num_permits()), Some(4));
}
