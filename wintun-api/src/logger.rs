//! The logger `WintunSetLogger` installs: one process-wide callback, called from any thread.
//!
//! A message is UTF-16, NUL-terminated, valid for the duration of the call; its timestamp is the
//! time of the event in 100-ns intervals since 1601-01-01 UTC (a `FILETIME`). Platform code
//! reports through [`info`], [`warn`] and [`error`].

use core::ffi::c_void;
use core::fmt::{self, Write as _};
use core::sync::atomic::{AtomicPtr, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// `WINTUN_LOGGER_LEVEL`: a C enum, passed as an `int`.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// `WINTUN_LOG_INFO`.
    Info = 0,
    /// `WINTUN_LOG_WARN`.
    Warn = 1,
    /// `WINTUN_LOG_ERR`.
    Err = 2,
}

/// `WINTUN_LOGGER_CALLBACK`: `VOID (CALLBACK *)(WINTUN_LOGGER_LEVEL, DWORD64, LPCWSTR)`.
pub type LoggerCallback = unsafe extern "system" fn(level: Level, timestamp: u64, message: *const u16);

static LOGGER: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());

/// Installs `callback` (or none) as the process's logger.
pub fn set(callback: Option<LoggerCallback>) {
    let raw = callback.map_or(core::ptr::null_mut(), |f| f as *mut c_void);
    LOGGER.store(raw, Ordering::Release);
}

fn current() -> Option<LoggerCallback> {
    let raw = LOGGER.load(Ordering::Acquire);
    if raw.is_null() {
        return None;
    }
    // SAFETY: every non-null value stored in `LOGGER` came from a `LoggerCallback` in `set`
    // (function pointers and data pointers have the same size on every target built).
    Some(unsafe { core::mem::transmute::<*mut c_void, LoggerCallback>(raw) })
}

/// 100-ns intervals between 1601-01-01 and 1970-01-01.
const FILETIME_UNIX_EPOCH: u64 = 116_444_736_000_000_000;

/// Now as a `FILETIME` value: 100-ns intervals since 1601-01-01 UTC.
pub fn filetime_now() -> u64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(since) => {
            let ticks = u64::try_from(since.as_nanos() / 100).unwrap_or(u64::MAX);
            FILETIME_UNIX_EPOCH.saturating_add(ticks)
        }
        Err(before) => {
            let ticks = u64::try_from(before.duration().as_nanos() / 100).unwrap_or(u64::MAX);
            FILETIME_UNIX_EPOCH.saturating_sub(ticks)
        }
    }
}

/// A message as UTF-16 with its terminating NUL.
struct Utf16Message(Vec<u16>);

impl fmt::Write for Utf16Message {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // An embedded NUL would end the message early for the reader: shown as U+FFFD.
        self.0.extend(s.encode_utf16().map(|u| if u == 0 { 0xFFFD } else { u }));
        Ok(())
    }
}

/// Reports a message at `level`, if a logger is installed.
pub fn log(level: Level, args: fmt::Arguments<'_>) {
    let Some(callback) = current() else { return };
    let timestamp = filetime_now();
    let mut message = Utf16Message(Vec::with_capacity(96));
    let _ = message.write_fmt(args);
    message.0.push(0);
    // SAFETY: the callback was installed by the application for exactly this call shape; the
    // message is NUL-terminated UTF-16 that outlives the call.
    unsafe { callback(level, timestamp, message.0.as_ptr()) };
}

/// Reports an informational message.
pub fn info(args: fmt::Arguments<'_>) {
    log(Level::Info, args);
}

/// Reports a warning.
pub fn warn(args: fmt::Arguments<'_>) {
    log(Level::Warn, args);
}

/// Reports an error.
pub fn error(args: fmt::Arguments<'_>) {
    log(Level::Err, args);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filetime_counts_from_1601() {
        // 2020-01-01T00:00:00Z is 132223104000000000 in FILETIME units.
        let t = filetime_now();
        assert!(t > 132_223_104_000_000_000, "{t}");
        assert_eq!(FILETIME_UNIX_EPOCH / 10_000_000, 11_644_473_600);
    }

    #[test]
    fn messages_are_nul_terminated_utf16_without_inner_nuls() {
        let mut m = Utf16Message(Vec::new());
        m.write_str("a\0é").unwrap();
        assert_eq!(m.0, vec![u16::from(b'a'), 0xFFFD, 0xE9]);
    }
}
