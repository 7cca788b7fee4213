//! The providers' delivery status scale, shared by every adapter:
//! -3 Failed, -2 Undelivered, -1 Unsent, 0 Pending, 1 Sent, 2 Delivered, 3 Read.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProviderStatus(i16);

impl ProviderStatus {
    pub const FAILED: ProviderStatus = ProviderStatus(-3);
    pub const UNDELIVERED: ProviderStatus = ProviderStatus(-2);
    pub const UNSENT: ProviderStatus = ProviderStatus(-1);
    pub const PENDING: ProviderStatus = ProviderStatus(0);
    pub const SENT: ProviderStatus = ProviderStatus(1);
    pub const DELIVERED: ProviderStatus = ProviderStatus(2);
    pub const READ: ProviderStatus = ProviderStatus(3);

    /// A value off the -3..3 scale is refused rather than stored.
    pub fn new(value: i64) -> Option<ProviderStatus> {
        (-3..=3)
            .contains(&value)
            .then_some(ProviderStatus(value as i16))
    }

    pub fn get(self) -> i16 {
        self.0
    }

    /// The status a delivery should hold after `update` arrives: it only moves
    /// forward, so a late `1 Sent` never overwrites `3 Read`.
    pub fn advance(current: Option<ProviderStatus>, update: ProviderStatus) -> ProviderStatus {
        match current {
            Some(current) if current > update => current,
            _ => update,
        }
    }

    pub fn label(self) -> &'static str {
        match self.0 {
            -3 => "Failed",
            -2 => "Undelivered",
            -1 => "Unsent",
            0 => "Pending",
            1 => "Sent",
            2 => "Delivered",
            _ => "Read",
        }
    }
}

impl fmt::Display for ProviderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.0, self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_scale_is_accepted() {
        assert_eq!(ProviderStatus::new(-3), Some(ProviderStatus::FAILED));
        assert_eq!(ProviderStatus::new(3), Some(ProviderStatus::READ));
        assert_eq!(ProviderStatus::new(4), None);
        assert_eq!(ProviderStatus::new(-4), None);
    }

    #[test]
    fn never_moves_backwards() {
        let read = ProviderStatus::READ;
        assert_eq!(
            ProviderStatus::advance(Some(read), ProviderStatus::SENT),
            read
        );
        assert_eq!(
            ProviderStatus::advance(Some(ProviderStatus::SENT), ProviderStatus::DELIVERED),
            ProviderStatus::DELIVERED
        );
        assert_eq!(
            ProviderStatus::advance(None, ProviderStatus::PENDING),
            ProviderStatus::PENDING
        );
    }
}
