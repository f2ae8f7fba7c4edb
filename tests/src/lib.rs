//! # ringtun-tests: the scenario suite
//!
//! Scenarios are written once against [`backend::Backend`] and run unchanged on every backend:
//! the host platform here ([`host::HostSuite`]), the installed driver in a test-signed Windows
//! VM (`device::DeviceSuite`, feature `device`, Windows only). A scenario declares the backend
//! capabilities it needs ([`backend::Needs`]); a backend lacking one reports the scenario as
//! skipped, never as passed.
//!
//! Every scenario asserts bytes and counters, not just the absence of a crash.

pub mod backend;
#[cfg(all(windows, feature = "device"))]
pub mod device;
#[cfg(feature = "host")]
pub mod fuzzing;
#[cfg(feature = "host")]
pub mod host;
pub mod offload_model;
pub mod packets;
pub mod runner;
pub mod scenarios;
#[cfg(feature = "host")]
pub mod soak;
pub mod wintun_client;

pub use backend::{Backend, Failure, Needs};

/// Fails the scenario with a message unless `cond` holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err($crate::Failure::new(format!("{} ({}:{})", format!($($fmt)+), file!(), line!())));
        }
    };
}

/// Fails the scenario unless both sides are equal.
#[macro_export]
macro_rules! ensure_eq {
    ($left:expr, $right:expr $(,)?) => {{
        let (l, r) = (&$left, &$right);
        if l != r {
            return Err($crate::Failure::new(format!(
                "{} == {} failed: {:?} != {:?} ({}:{})",
                stringify!($left), stringify!($right), l, r, file!(), line!()
            )));
        }
    }};
    ($left:expr, $right:expr, $($fmt:tt)+) => {{
        let (l, r) = (&$left, &$right);
        if l != r {
            return Err($crate::Failure::new(format!(
                "{}: {:?} != {:?} ({}:{})", format!($($fmt)+), l, r, file!(), line!()
            )));
        }
    }};
}
