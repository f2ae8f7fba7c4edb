//! The Linux build's handle table: every `HANDLE` the library gives out names an event in it.
//!
//! Handles are multiples of 4 from 0x1000 up, never reused while the process runs (a stale handle
//! fails with `ERROR_INVALID_HANDLE` instead of naming another object). Named events are shared
//! by name within the process, as on Windows within a session namespace.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use ringtun_driver::host::HostEvent;

use crate::win32::{Win32Error, ERROR_INVALID_HANDLE};

/// What a handle names.
struct Entry {
    event: HostEvent,
    /// The name it was created or opened with, if any.
    name: Option<Vec<u16>>,
    /// A session's read-wait event: closed by the session, not by `CloseHandle`.
    session_owned: bool,
}

struct Table {
    next: usize,
    entries: HashMap<usize, Entry>,
    /// Named events, with how many handles name each.
    names: HashMap<Vec<u16>, (HostEvent, usize)>,
}

static TABLE: Mutex<Option<Table>> = Mutex::new(None);

fn with_table<R>(f: impl FnOnce(&mut Table) -> R) -> R {
    let mut guard: MutexGuard<'_, Option<Table>> = TABLE.lock().unwrap_or_else(|e| e.into_inner());
    let table = guard.get_or_insert_with(|| Table { next: 0x1000, entries: HashMap::new(), names: HashMap::new() });
    f(table)
}

fn insert(table: &mut Table, entry: Entry) -> usize {
    let handle = table.next;
    table.next = table.next.wrapping_add(4);
    table.entries.insert(handle, entry);
    handle
}

/// A new event handle: `CreateEventW`. With a name that already names an event, the handle
/// names that event and the second value is `true` (`ERROR_ALREADY_EXISTS`).
pub fn create_event(manual_reset: bool, initially_set: bool, name: Option<Vec<u16>>) -> (usize, bool) {
    with_table(|table| {
        let (event, existed) = match &name {
            Some(n) => match table.names.get_mut(n) {
                Some((event, count)) => {
                    *count += 1;
                    (event.clone(), true)
                }
                None => {
                    let event = HostEvent::new(!manual_reset, initially_set);
                    table.names.insert(n.clone(), (event.clone(), 1));
                    (event, false)
                }
            },
            None => (HostEvent::new(!manual_reset, initially_set), false),
        };
        (insert(table, Entry { event, name, session_owned: false }), existed)
    })
}

/// Enters a session's read-wait event.
pub fn insert_session_event(event: HostEvent) -> usize {
    with_table(|table| insert(table, Entry { event, name: None, session_owned: true }))
}

/// Removes a session's read-wait event (the session ended).
pub fn close_session_event(handle: usize) {
    with_table(|table| {
        if table.entries.get(&handle).is_some_and(|e| e.session_owned) {
            table.entries.remove(&handle);
        }
    });
}

/// The event `handle` names.
pub fn event(handle: usize) -> Result<HostEvent, Win32Error> {
    with_table(|table| table.entries.get(&handle).map(|e| e.event.clone())).ok_or(Win32Error(ERROR_INVALID_HANDLE))
}

/// The events `handles` name, in order.
pub fn events(handles: &[usize]) -> Result<Vec<HostEvent>, Win32Error> {
    with_table(|table| {
        handles
            .iter()
            .map(|h| table.entries.get(h).map(|e| e.event.clone()).ok_or(Win32Error(ERROR_INVALID_HANDLE)))
            .collect()
    })
}

/// `CloseHandle`. A session's read-wait event is refused (`ERROR_INVALID_HANDLE`): the session
/// owns it, and Wintun's documentation forbids closing it.
pub fn close(handle: usize) -> Result<(), Win32Error> {
    with_table(|table| {
        match table.entries.get(&handle) {
            Some(entry) if !entry.session_owned => {}
            _ => return Err(Win32Error(ERROR_INVALID_HANDLE)),
        }
        let entry = table.entries.remove(&handle).ok_or(Win32Error(ERROR_INVALID_HANDLE))?;
        if let Some(name) = entry.name {
            let last = match table.names.get_mut(&name) {
                Some((_, count)) => {
                    *count = count.saturating_sub(1);
                    *count == 0
                }
                None => false,
            };
            if last {
                table.names.remove(&name);
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringtun_driver::platform::Event as _;

    #[test]
    fn named_events_are_shared_until_the_last_handle_closes() {
        let name: Vec<u16> = "handles-test-shared".encode_utf16().collect();
        let (a, existed_a) = create_event(true, false, Some(name.clone()));
        let (b, existed_b) = create_event(true, false, Some(name.clone()));
        assert!(!existed_a);
        assert!(existed_b);
        assert_ne!(a, b);
        event(a).unwrap().set();
        assert!(event(b).unwrap().is_set(), "both handles name one event");
        close(a).unwrap();
        close(b).unwrap();
        let (c, existed_c) = create_event(true, false, Some(name));
        assert!(!existed_c, "the name went with its last handle");
        assert!(!event(c).unwrap().is_set());
        close(c).unwrap();
    }

    #[test]
    fn closed_and_session_handles_are_refused() {
        let (h, _) = create_event(false, false, None);
        close(h).unwrap();
        assert_eq!(close(h), Err(Win32Error(ERROR_INVALID_HANDLE)));
        assert!(event(h).is_err());
        let s = insert_session_event(HostEvent::new(true, false));
        assert_eq!(close(s), Err(Win32Error(ERROR_INVALID_HANDLE)));
        assert!(event(s).is_ok());
        close_session_event(s);
        assert!(event(s).is_err());
        assert_eq!(close(0), Err(Win32Error(ERROR_INVALID_HANDLE)));
    }
}
