//! The fixed words a delivery's row and its attempts carry beside the
//! status: why it waits ([`WaitReason`], `deliveries.wait_reason`), what
//! an attempt came to ([`AttemptOutcome`], `delivery_attempts.outcome`),
//! and the fixed reasons it failed for ([`FailReason`], `fail_reason`);
//! who changed it ([`Actor`]) and what an operator did to the dead letters
//! ([`DeadLetterAction`]). The strings are the contract's; storage writes their `as_str()`.

use std::fmt;

/// Names one value of a fixed set of words: `as_str`, `Display`, and a
/// `parse` that knows every value (`ALL`).
macro_rules! words {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// The value named `text`, if it is one.
            pub fn parse(text: &str) -> Option<$name> {
                $name::ALL.iter().copied().find(|value| value.as_str() == text)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

words! {
    /// Why a `waitForSending` delivery waits (contract §4). A delivery due
    /// now for want of a worker with room has none.
    WaitReason {
        /// A retry after a failed attempt, or a connection no worker here knows.
        Retry => "retry",
        /// The provider's quota or hours are closed, or the connection is paused.
        Quota => "quota",
        /// Outside the connection's sending window.
        Window => "window",
        /// Waiting for a send slot of the connection's rate.
        Rate => "rate",
        /// Waiting for its predecessor in an ordered group.
        Group => "group",
        /// Waiting for its `not_before`.
        Scheduled => "scheduled",
    }
}

words! {
    /// What one provider call came to (contract §4, `delivery_attempts`).
    AttemptOutcome {
        Success => "success",
        /// It failed in a way a later attempt may mend.
        Retryable => "retryable",
        /// It failed in a way no attempt can mend.
        Permanent => "permanent",
        /// The provider's quota or hours were closed: no attempt used.
        Deferred => "deferred",
    }
}

words! {
    /// The fixed reasons a delivery fails for without a provider's word
    /// (contract §3 and §4). Other reasons carry text: the provider's
    /// message, "unsupported: …", "attempts exhausted: …".
    FailReason {
        /// Its `expires_at` passed before it was sent.
        Expired => "expired",
        /// An operator cancelled it while it waited.
        Cancelled => "cancelled",
        /// A member of its ordered group before it failed.
        GroupAborted => "group_aborted",
        /// Its predecessor in its ordered group did not arrive in time.
        GroupGap => "group_gap",
    }
}

words! {
    /// What an audit event of a delivery (`delivery_events.kind`) records.
    EventKind {
        /// Claimed, and held back without a call: it waits (`reason` says why).
        Deferred => "deferred",
        /// Claimed, and failed without a call (expired, unsupported, its
        /// group aborted or with a gap).
        Failed => "failed",
        /// Its predecessor in its group succeeded: it is due now.
        Released => "released",
        /// A member before it in its group failed: it failed, `group_aborted`.
        Aborted => "aborted",
        /// The member before it was resent: it waits for its turn again.
        Requeued => "requeued",
        /// Its worker was lost: the lease took the claim back.
        Recovered => "recovered",
        /// An operator started a new round of attempts.
        Resent => "resent",
        /// An operator cancelled it while it waited.
        Cancelled => "cancelled",
        /// Its `expires_at` passed while it waited.
        Expired => "expired",
        /// A provider's callback moved its provider status.
        ProviderStatus => "provider_status",
    }
}

words! {
    /// Who made a change the audit trail records (`delivery_events.actor`).
    Actor {
        /// A worker, on its own.
        Worker => "worker",
        /// An operator through `herald resend` / `herald cancel`.
        Cli => "cli",
        /// An operator through the admin API.
        Api => "api",
        /// A provider's status callback.
        Callback => "callback",
        /// A `resend` or `cancel` command published by other means.
        Producer => "producer",
    }
}

words! {
    /// What an operator did to the dead-letter queue
    /// (`dead_letter_actions.action`).
    DeadLetterAction {
        /// Published dead letters to the command exchange again.
        Replay => "replay",
        /// Deleted dead letters for good.
        Purge => "purge",
    }
}

/// How a failure's text opens when it names why, beside a fixed reason.
pub mod prefix {
    /// The adapter cannot carry the message.
    pub const UNSUPPORTED: &str = "unsupported";
    /// The round's attempts are used up.
    pub const ATTEMPTS_EXHAUSTED: &str = "attempts exhausted";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_round_trips_and_no_two_share_a_name() {
        fn check<T: Copy + PartialEq + fmt::Debug>(
            all: &[T],
            name: fn(T) -> &'static str,
            parse: fn(&str) -> Option<T>,
        ) {
            for (i, value) in all.iter().enumerate() {
                assert_eq!(parse(name(*value)), Some(*value));
                assert!(all[..i].iter().all(|other| name(*other) != name(*value)));
            }
            assert_eq!(parse("Retry"), None, "names are case-sensitive");
        }
        check(WaitReason::ALL, WaitReason::as_str, WaitReason::parse);
        check(
            AttemptOutcome::ALL,
            AttemptOutcome::as_str,
            AttemptOutcome::parse,
        );
        check(FailReason::ALL, FailReason::as_str, FailReason::parse);
        check(EventKind::ALL, EventKind::as_str, EventKind::parse);
        check(Actor::ALL, Actor::as_str, Actor::parse);
        check(
            DeadLetterAction::ALL,
            DeadLetterAction::as_str,
            DeadLetterAction::parse,
        );
    }

    #[test]
    fn the_contracts_wait_reasons() {
        let names: Vec<&str> = WaitReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            names,
            ["retry", "quota", "window", "rate", "group", "scheduled"]
        );
    }
}
