//! Adapters of the Linux build: host-platform adapters in this process, by name.
//!
//! The stack side is chosen at creation by `RINGTUN_WINTUN_STACK` (`fake`, the default;
//! `loopback`; `backpressure`; `tun`). `backpressure` is a loopback whose stack keeps a packet
//! the Send ring cannot take (and so its Receive-ring slot) until the client has received enough
//! to make room, as a stack in front of a slow link does: a client that sends faster than it
//! receives fills the ring it sends into, and the stack's thread drains it as the client
//! receives. With `tun`, the adapter is a Linux TUN interface named like the adapter:
//! the name as UTF-8 with every character Linux refuses in an interface name (`/`, `:`,
//! whitespace) replaced by `-`, cut to 15 bytes. The interface is brought up when created (as a
//! Windows adapter is enabled); its carrier follows the session, as a Windows adapter's media
//! state does. Its LUID carries the interface index.
//!
//! Names follow the Windows platform's rules, through the same code ([`crate::platform::names`]):
//! compared without regard to ASCII case, and a name already in use is handled as Wintun handles
//! it: the new adapter takes the name, and the adapter holding it is renamed `<name> 1` (or the
//! first free `<name> N`, up to 1000); with `tun`, its Linux interface is renamed too. If the
//! holder cannot be renamed, the new adapter is named `<name> N` instead.

use std::collections::VecDeque;
use std::ffi::CString;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, RwLock, Weak};
use std::time::Duration;

use ring_abi::CallerBitness;
use ringtun::backend::host::HostBackend;
use ringtun_driver::engine::TransmitStatus;
use ringtun_driver::host::{HostDriver, HostIndication, StackSide};
use ringtun_tun::{TunDevice, TunPump, TunStackSide};

use crate::logger;
use crate::platform::driver_deletion::{self, Decision, Setting};
use crate::platform::names::{assign_alias, names_equal, ConnectionNames};
use crate::platform::PlatformAdapter;
use crate::win32::{
    net_luid, Guid, Win32Error, ERROR_ACCESS_DENIED, ERROR_DEVICE_NOT_AVAILABLE, ERROR_DUP_NAME, ERROR_FILE_NOT_FOUND,
    ERROR_GEN_FAILURE, ERROR_INF_IN_USE_BY_DEVICES, ERROR_INVALID_PARAMETER, ERROR_NOT_FOUND, ERROR_SUCCESS,
    IF_TYPE_PROP_VIRTUAL,
};

/// The environment variable that chooses the stack side of new adapters.
pub const STACK_VARIABLE: &str = "RINGTUN_WINTUN_STACK";

/// The stack side of an adapter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StackKind {
    /// The host platform's fake stack: sent packets are counted and dropped.
    Fake,
    /// Sent packets come back through the Send path.
    Loopback,
    /// Sent packets come back through the Send path; one that does not fit waits in the stack.
    Backpressure,
    /// A Linux TUN interface.
    Tun,
}

impl StackKind {
    /// The kind `RINGTUN_WINTUN_STACK` names (unset or empty: fake).
    pub fn from_environment() -> Result<Self, Win32Error> {
        match std::env::var(STACK_VARIABLE) {
            Err(std::env::VarError::NotPresent) => Ok(Self::Fake),
            Ok(v) if v.is_empty() || v == "fake" => Ok(Self::Fake),
            Ok(v) if v == "loopback" => Ok(Self::Loopback),
            Ok(v) if v == "backpressure" => Ok(Self::Backpressure),
            Ok(v) if v == "tun" => Ok(Self::Tun),
            Ok(v) => {
                logger::error(format_args!("{STACK_VARIABLE}={v:?}: expected fake, loopback, backpressure or tun"));
                Err(Win32Error(ERROR_INVALID_PARAMETER))
            }
            Err(std::env::VarError::NotUnicode(_)) => Err(Win32Error(ERROR_INVALID_PARAMETER)),
        }
    }
}

/// Sends every packet the engine indicates back through the adapter's Send path.
#[derive(Default)]
struct LoopbackSide {
    driver: OnceLock<Weak<HostDriver>>,
}

impl StackSide for LoopbackSide {
    fn accept(&self, batch: &mut dyn Iterator<Item = HostIndication>) -> Vec<u64> {
        let mut tokens = Vec::new();
        let mut packets = Vec::new();
        for indication in batch {
            packets.push(indication.bytes());
            tokens.push(indication.token());
        }
        if let Some(driver) = self.driver.get().and_then(Weak::upgrade) {
            let refs: Vec<&[u8]> = packets.iter().map(Vec::as_slice).collect();
            // Packets that do not fit the Send ring are dropped and counted by the engine, as a
            // stack's packets to a full adapter are.
            let _ = driver.transmit(&refs);
        }
        tokens
    }

    fn link_changed(&self, _up: bool) {}
}

/// The packets a [`BackpressureSide`] keeps: token and bytes, in the order they were sent.
#[derive(Default)]
struct Backlog {
    state: Mutex<BacklogState>,
    changed: Condvar,
}

#[derive(Default)]
struct BacklogState {
    packets: VecDeque<(u64, Vec<u8>)>,
    stopped: bool,
}

impl Backlog {
    fn lock(&self) -> MutexGuard<'_, BacklogState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends the kept packets into the Send ring, in order, up to the first that does not fit;
    /// returns the tokens of those that went (a packet the engine drops for another reason is
    /// gone as well).
    fn flush(state: &mut BacklogState, driver: &HostDriver) -> Vec<u64> {
        let mut done = Vec::new();
        while let Some((token, bytes)) = state.packets.front() {
            match driver.transmit(&[bytes]).ok().and_then(|s| s.first().copied()) {
                Some(TransmitStatus::RingFull) => break,
                _ => done.push(*token),
            }
            state.packets.pop_front();
        }
        done
    }

    /// The adapter goes: the thread ends, the kept packets are dropped.
    fn stop(&self) {
        let mut state = self.lock();
        state.stopped = true;
        state.packets.clear();
        self.changed.notify_all();
    }
}

/// How often the backlog's thread tries the Send ring again while it keeps packets.
const BACKLOG_RETRY: Duration = Duration::from_millis(1);
/// How often it looks whether its driver is gone while it keeps none.
const BACKLOG_IDLE: Duration = Duration::from_millis(100);

/// The backlog's thread: sends kept packets as the Send ring makes room and returns their
/// Receive-ring slots.
fn drain_backlog(backlog: Arc<Backlog>, driver: Weak<HostDriver>) {
    loop {
        let mut state = backlog.lock();
        let wait = if state.packets.is_empty() { BACKLOG_IDLE } else { BACKLOG_RETRY };
        state = backlog.changed.wait_timeout(state, wait).map(|(s, _)| s).unwrap_or_else(|e| e.into_inner().0);
        if state.stopped {
            return;
        }
        let Some(driver) = driver.upgrade() else { return };
        let tokens = Backlog::flush(&mut state, &driver);
        drop(state);
        if !tokens.is_empty() {
            driver.adapter().return_indications(tokens);
        }
    }
}

/// Sends every packet the engine indicates back through the Send path; what the Send ring cannot
/// take is kept (holding its Receive-ring slot) and sent by [`drain_backlog`] once it can.
struct BackpressureSide {
    driver: OnceLock<Weak<HostDriver>>,
    backlog: Arc<Backlog>,
}

impl StackSide for BackpressureSide {
    fn accept(&self, batch: &mut dyn Iterator<Item = HostIndication>) -> Vec<u64> {
        let mut state = self.backlog.lock();
        for indication in batch {
            state.packets.push_back((indication.token(), indication.bytes()));
        }
        let done = match self.driver.get().and_then(Weak::upgrade) {
            Some(driver) if !state.stopped => Backlog::flush(&mut state, &driver),
            // No driver (it is going) or no adapter: nothing to send to.
            _ => state.packets.drain(..).map(|(token, _)| token).collect(),
        };
        if !state.packets.is_empty() {
            self.backlog.changed.notify_all();
        }
        done
    }

    fn link_changed(&self, _up: bool) {}
}

/// A stack side that can be cut off when the adapter is removed (its interface goes at once,
/// while sessions may still hold the driver).
struct Detachable(RwLock<Option<Arc<dyn StackSide>>>);

impl StackSide for Detachable {
    fn accept(&self, batch: &mut dyn Iterator<Item = HostIndication>) -> Vec<u64> {
        let side = self.0.read().unwrap_or_else(|e| e.into_inner()).clone();
        match side {
            Some(side) => side.accept(batch),
            None => batch.map(|i| i.token()).collect(),
        }
    }

    fn link_changed(&self, up: bool) {
        let side = self.0.read().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(side) = side {
            side.link_changed(up);
        }
    }
}

/// A TUN interface's parts, released when the adapter is removed.
struct Tun {
    side: Arc<Detachable>,
    pump: TunPump,
    device: Arc<TunDevice>,
}

/// One adapter.
struct Entry {
    /// The name the API knows it by (changed when a new adapter takes it).
    name: Mutex<Vec<u16>>,
    luid: u64,
    driver: Arc<HostDriver>,
    tun: Mutex<Option<Tun>>,
    /// The `backpressure` stack's kept packets.
    backlog: Option<Arc<Backlog>>,
    removed: AtomicBool,
}

impl Entry {
    fn name(&self) -> MutexGuard<'_, Vec<u16>> {
        self.name.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn tun_name(&self) -> Option<String> {
        self.tun.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|t| t.device.name().to_owned())
    }

    /// Removes the adapter: its session ends (both rings report the end), registrations are
    /// refused from now on, and its interface goes.
    fn remove(&self) {
        if self.removed.swap(true, Ordering::AcqRel) {
            return;
        }
        self.driver.surprise_remove();
        if let Some(backlog) = &self.backlog {
            backlog.stop();
        }
        let tun = self.tun.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(tun) = tun {
            *tun.side.0.write().unwrap_or_else(|e| e.into_inner()) = None;
            let _ = tun.pump.stop();
            drop(tun.device);
        }
    }
}

static ADAPTERS: Mutex<Vec<Arc<Entry>>> = Mutex::new(Vec::new());

fn adapters() -> MutexGuard<'static, Vec<Arc<Entry>>> {
    ADAPTERS.lock().unwrap_or_else(|e| e.into_inner())
}

/// The LUID index of adapters without a Linux interface: the upper half of the 24-bit space,
/// apart from interface indices.
static NEXT_INDEX: AtomicU32 = AtomicU32::new(0x80_0000);

/// The Linux interface name for an adapter name: characters Linux refuses become `-`, cut to 15
/// bytes on a character boundary.
pub fn interface_name(name: &[u16]) -> String {
    let mut out = String::new();
    for c in char::decode_utf16(name.iter().copied()) {
        let c = match c {
            Ok(c) if c == '/' || c == ':' || c.is_whitespace() || c.is_control() => '-',
            Ok(c) => c,
            Err(_) => '-',
        };
        if out.len() + c.len_utf8() > 15 {
            break;
        }
        out.push(c);
    }
    if out == "." || out == ".." {
        out = out.replace('.', "-");
    }
    out
}

/// Brings interface `name` up or down, and renames it (it must be down to be renamed).
mod ifctl {
    use std::ffi::CString;
    use std::io;

    fn request(name: &CString) -> io::Result<libc::ifreq> {
        // SAFETY: `ifreq` is plain data; zero is a valid value.
        let mut req: libc::ifreq = unsafe { core::mem::zeroed() };
        let bytes = name.as_bytes();
        if bytes.len() >= req.ifr_name.len() {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        for (d, &s) in req.ifr_name.iter_mut().zip(bytes) {
            *d = s as libc::c_char;
        }
        Ok(req)
    }

    fn with_socket<R>(f: impl FnOnce(libc::c_int) -> io::Result<R>) -> io::Result<R> {
        // SAFETY: plain socket creation; the result is checked and closed below.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let result = f(fd);
        // SAFETY: `fd` was opened above and is closed once.
        unsafe { libc::close(fd) };
        result
    }

    /// Sets or clears `IFF_UP`.
    pub fn set_up(name: &CString, up: bool) -> io::Result<()> {
        with_socket(|fd| {
            let mut req = request(name)?;
            // SAFETY: SIOCGIFFLAGS reads the name and writes the flags of one `ifreq`.
            if unsafe { libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) } < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: the kernel filled the flags member of the union.
            let flags = unsafe { req.ifr_ifru.ifru_flags };
            let up_flag = libc::IFF_UP as libc::c_short;
            req.ifr_ifru.ifru_flags = if up { flags | up_flag } else { flags & !up_flag };
            // SAFETY: SIOCSIFFLAGS reads one `ifreq`.
            if unsafe { libc::ioctl(fd, libc::SIOCSIFFLAGS, &req) } < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        })
    }

    /// Renames interface `from` to `to` (down first, up again after).
    pub fn rename(from: &CString, to: &CString) -> io::Result<()> {
        set_up(from, false)?;
        let renamed = with_socket(|fd| {
            let mut req = request(from)?;
            let new = request(to)?;
            // Writing a union member is safe; `ifru_newname` is the one SIOCSIFNAME reads.
            req.ifr_ifru.ifru_newname = new.ifr_name;
            // SAFETY: SIOCSIFNAME reads one `ifreq`.
            if unsafe { libc::ioctl(fd, libc::SIOCSIFNAME, &req) } < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
        match renamed {
            Ok(()) => set_up(to, true),
            Err(e) => {
                let _ = set_up(from, true);
                Err(e)
            }
        }
    }
}

/// An adapter handle.
pub struct Adapter {
    entry: Arc<Entry>,
    /// This handle created the adapter: closing it removes the adapter.
    created: bool,
}

fn tun_error(e: &ringtun_tun::TunError) -> Win32Error {
    logger::error(format_args!("TUN interface: {e}"));
    let os = match e {
        ringtun_tun::TunError::Io(_, io) => io.raw_os_error(),
        _ => None,
    };
    Win32Error(match os {
        Some(libc::EPERM | libc::EACCES) => ERROR_ACCESS_DENIED,
        Some(libc::ENOENT | libc::ENODEV) => ERROR_DEVICE_NOT_AVAILABLE,
        _ => ERROR_GEN_FAILURE,
    })
}

/// The adapters' names as the naming policy ([`assign_alias`]) sees them: the list's adapters
/// (by index) and the adapter being created (`None`), whose name is settled before it is built
/// (with `tun`, its interface takes the name in Linux, so the holder gives it up first).
struct ListNames<'a> {
    list: &'a [Arc<Entry>],
    /// The name the adapter being created has taken.
    new_name: Option<Vec<u16>>,
}

impl ConnectionNames for ListNames<'_> {
    type Id = Option<usize>;

    fn set_alias(&mut self, who: Option<usize>, name: &[u16]) -> u32 {
        let held_by_another = self.list.iter().enumerate().any(|(i, e)| who != Some(i) && names_equal(&e.name(), name));
        let held_by_new = who.is_some() && self.new_name.as_deref().is_some_and(|new| names_equal(new, name));
        if held_by_another || held_by_new {
            return ERROR_DUP_NAME;
        }
        match who.and_then(|i| self.list.get(i)) {
            None => {
                self.new_name = Some(name.to_vec());
                ERROR_SUCCESS
            }
            Some(entry) => rename(entry, name),
        }
    }

    fn alias_owner(&mut self, name: &[u16]) -> Option<Option<usize>> {
        self.list.iter().position(|e| names_equal(&e.name(), name)).map(Some)
    }

    fn renamed(&mut self, who: Option<usize>, name: &[u16]) {
        let Some(entry) = who.and_then(|i| self.list.get(i)) else { return };
        logger::info(format_args!(
            "Adapter renamed {} (its name was requested for a new adapter){}",
            String::from_utf16_lossy(name),
            entry.tun_name().map(|n| format!(", interface {n}")).unwrap_or_default()
        ));
    }
}

/// Renames an adapter, its TUN interface first (`ERROR_DUP_NAME` when Linux already has an
/// interface of the new interface name, another Win32 error when the rename fails otherwise; the
/// adapter keeps its name then).
fn rename(entry: &Entry, name: &[u16]) -> u32 {
    if let Some(old) = entry.tun_name() {
        let new = interface_name(name);
        if new == old {
            // The names differ only past the interface name's 15 bytes: Linux cannot tell them
            // apart.
            return ERROR_DUP_NAME;
        }
        let renamed = CString::new(old.clone())
            .and_then(|from| CString::new(new.clone()).map(|to| (from, to)))
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
            .and_then(|(from, to)| ifctl::rename(&from, &to));
        if let Err(e) = renamed {
            logger::warn(format_args!("Failed to rename interface {old} to {new}: {e}"));
            return match e.raw_os_error() {
                Some(libc::EEXIST) => ERROR_DUP_NAME,
                Some(libc::EPERM | libc::EACCES) => ERROR_ACCESS_DENIED,
                _ => ERROR_GEN_FAILURE,
            };
        }
    }
    *entry.name() = name.to_vec();
    ERROR_SUCCESS
}

fn build(kind: StackKind, name: &[u16]) -> Result<Entry, Win32Error> {
    let mut backlog = None;
    let (driver, tun, luid_index) = match kind {
        StackKind::Fake => {
            let driver = HostDriver::new();
            // The fake stack keeps no copy of what it is sent: an adapter may run for long.
            driver.stack().set_logging(false);
            (driver, None, NEXT_INDEX.fetch_add(1, Ordering::Relaxed))
        }
        StackKind::Loopback => {
            let side = Arc::new(LoopbackSide::default());
            let driver = HostDriver::with_stack_side(Arc::clone(&side) as Arc<dyn StackSide>);
            let _ = side.driver.set(Arc::downgrade(&driver));
            (driver, None, NEXT_INDEX.fetch_add(1, Ordering::Relaxed))
        }
        StackKind::Backpressure => {
            let kept = Arc::new(Backlog::default());
            let side = Arc::new(BackpressureSide { driver: OnceLock::new(), backlog: Arc::clone(&kept) });
            let driver = HostDriver::with_stack_side(Arc::clone(&side) as Arc<dyn StackSide>);
            let _ = side.driver.set(Arc::downgrade(&driver));
            let (thread_backlog, weak) = (Arc::clone(&kept), Arc::downgrade(&driver));
            std::thread::Builder::new()
                .name("ringtun-backlog".into())
                .spawn(move || drain_backlog(thread_backlog, weak))
                .map_err(|e| {
                    logger::error(format_args!("Failed to start the stack's thread: {e}"));
                    Win32Error(ERROR_GEN_FAILURE)
                })?;
            backlog = Some(kept);
            (driver, None, NEXT_INDEX.fetch_add(1, Ordering::Relaxed))
        }
        StackKind::Tun => {
            let ifname = interface_name(name);
            let device = Arc::new(TunDevice::open(&ifname).map_err(|e| tun_error(&e))?);
            let cname = CString::new(device.name()).map_err(|_| Win32Error(ERROR_INVALID_PARAMETER))?;
            // SAFETY: a NUL-terminated interface name.
            let index = unsafe { libc::if_nametoindex(cname.as_ptr()) };
            let tun_side: Arc<dyn StackSide> = Arc::new(TunStackSide::new(Arc::clone(&device), 1500));
            let side = Arc::new(Detachable(RwLock::new(Some(tun_side))));
            let driver = HostDriver::with_stack_side(Arc::clone(&side) as Arc<dyn StackSide>);
            if let Err(e) = ifctl::set_up(&cname, true) {
                logger::warn(format_args!("Failed to bring interface {} up: {e}", device.name()));
            }
            let pump = TunPump::start(Arc::clone(&device), Arc::clone(&driver)).map_err(|e| {
                logger::error(format_args!("Failed to start the TUN pump: {e}"));
                Win32Error(ERROR_GEN_FAILURE)
            })?;
            (driver, Some(Tun { side, pump, device }), index)
        }
    };
    Ok(Entry {
        name: Mutex::new(name.to_vec()),
        luid: net_luid(IF_TYPE_PROP_VIRTUAL, luid_index),
        driver,
        tun: Mutex::new(tun),
        backlog,
        removed: AtomicBool::new(false),
    })
}

impl Adapter {
    /// The adapter's driver, the engine in this process (for Rust callers of the library: tests
    /// and benchmarks drive its stack side directly).
    pub fn host_driver(&self) -> &Arc<HostDriver> {
        &self.entry.driver
    }
}

impl PlatformAdapter for Adapter {
    type Backend = HostBackend;

    fn create(name: &[u16], _tunnel_type: &[u16], _requested_guid: Option<Guid>) -> Result<Self, Win32Error> {
        let kind = StackKind::from_environment()?;
        let mut list = adapters();
        // The holder gives up the name first: with a TUN interface, the new one takes it in Linux.
        let mut names = ListNames { list: &list, new_name: None };
        let name = assign_alias(&mut names, None, name).map_err(Win32Error)?;
        let entry = Arc::new(build(kind, &name)?);
        list.push(Arc::clone(&entry));
        logger::info(format_args!(
            "Created adapter {} ({kind:?} stack{})",
            String::from_utf16_lossy(&name),
            entry.tun_name().map(|n| format!(", interface {n}")).unwrap_or_default()
        ));
        Ok(Self { entry, created: true })
    }

    fn open(name: &[u16]) -> Result<Self, Win32Error> {
        let list = adapters();
        let entry = list.iter().find(|e| names_equal(&e.name(), name)).ok_or(Win32Error(ERROR_NOT_FOUND))?;
        Ok(Self { entry: Arc::clone(entry), created: false })
    }

    fn close(self) {
        if !self.created {
            return;
        }
        adapters().retain(|e| !Arc::ptr_eq(e, &self.entry));
        self.entry.remove();
        logger::info(format_args!("Removed adapter {}", String::from_utf16_lossy(&self.entry.name())));
    }

    fn luid(&self) -> u64 {
        self.entry.luid
    }

    fn open_backend(&self) -> Result<HostBackend, Win32Error> {
        if self.entry.removed.load(Ordering::Acquire) {
            return Err(Win32Error(ERROR_DEVICE_NOT_AVAILABLE));
        }
        Ok(HostBackend::open(&self.entry.driver, u64::from(std::process::id()), CallerBitness::Bits64))
    }
}

/// The running driver's version: loaded while any adapter exists, as a Windows driver is.
pub fn running_driver_version() -> Result<u32, Win32Error> {
    if adapters().is_empty() {
        return Err(Win32Error(ERROR_FILE_NOT_FOUND));
    }
    Ok(crate::wintun_driver_version(ring_abi::DRIVER_VERSION))
}

/// `WintunDeleteDriver` on Linux: the driver is part of this library, so there is never a package
/// to remove. By default the call keeps it and succeeds, as the Windows build does with the
/// package installed from the INF, and tells the logger. With the opt-in set
/// (`RINGTUN_WINTUN_DELETE_DRIVER=1`) it answers as the Windows build's deletion does: refused
/// while an adapter exists (`ERROR_INF_IN_USE_BY_DEVICES`, what Windows reports for a package in
/// use), success once none does.
pub fn delete_driver() -> Result<(), Win32Error> {
    let how = driver_deletion::environment_opt_in();
    match driver_deletion::decide(deletion_setting(std::env::var(driver_deletion::ENVIRONMENT_VARIABLE))) {
        Decision::Remove if adapters().is_empty() => Ok(()),
        Decision::Remove => Err(Win32Error(ERROR_INF_IN_USE_BY_DEVICES)),
        Decision::Keep => {
            logger::info(format_args!("{}", driver_deletion::kept_message(&how)));
            Ok(())
        }
        Decision::KeepIgnoringSetting(setting) => {
            logger::warn(format_args!("{}", driver_deletion::ignored_message(&how, setting)));
            Ok(())
        }
    }
}

/// The `WintunDeleteDriver` setting from the environment variable: unset or empty is no setting,
/// decimal digits a number, anything else unreadable.
fn deletion_setting(variable: Result<String, std::env::VarError>) -> Setting {
    match variable {
        Err(std::env::VarError::NotPresent) => Setting::Absent,
        Ok(v) if v.is_empty() => Setting::Absent,
        Ok(v) if v.bytes().all(|b| b.is_ascii_digit()) => v.parse().map_or(Setting::Unreadable, Setting::Number),
        _ => Setting::Unreadable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::win32::ERROR_BUFFER_OVERFLOW;

    fn w(s: &str) -> Vec<u16> {
        s.encode_utf16().collect()
    }

    #[test]
    fn the_deletion_setting_is_the_variables_number() {
        use std::env::VarError;
        let set = |v: &str| deletion_setting(Ok(v.to_string()));
        assert_eq!(deletion_setting(Err(VarError::NotPresent)), Setting::Absent);
        assert_eq!(set(""), Setting::Absent);
        assert_eq!(set("1"), Setting::Number(1));
        assert_eq!(set("0"), Setting::Number(0));
        assert_eq!(set("01"), Setting::Number(1));
        assert_eq!(set("yes"), Setting::Unreadable);
        assert_eq!(set("-1"), Setting::Unreadable);
        assert_eq!(set("99999999999"), Setting::Unreadable);
        assert_eq!(deletion_setting(Err(VarError::NotUnicode("\u{1}".into()))), Setting::Unreadable);
    }

    #[test]
    fn interface_names_are_valid_linux_names() {
        assert_eq!(interface_name(&w("wg0")), "wg0");
        assert_eq!(interface_name(&w("Office Net/2:a")), "Office-Net-2-a");
        assert_eq!(interface_name(&w("a-very-long-adapter-name")), "a-very-long-ada");
        // Cut on a character boundary: 7 two-byte characters make 14 bytes, an 8th would be 16.
        assert_eq!(interface_name(&w("éééééééé")), "ééééééé");
        assert_eq!(interface_name(&w("..")), "--");
    }

    /// The Windows platform's collision policy, on this platform's adapters: the holder of a name
    /// becomes `<name> 1`, or the first free `<name> N`; names compare as `_wcsicmp` does (ASCII
    /// case only).
    #[test]
    fn the_holder_of_a_name_becomes_name_1() {
        let names =
            |list: &[Arc<Entry>]| -> Vec<String> { list.iter().map(|e| String::from_utf16_lossy(&e.name())).collect() };
        let mut list: Vec<Arc<Entry>> = Vec::new();
        for requested in ["Office", "oFFICE", "Office", "Ärger", "ärger"] {
            let mut policy = ListNames { list: &list, new_name: None };
            let name = assign_alias(&mut policy, None, &w(requested)).unwrap();
            list.push(Arc::new(build(StackKind::Fake, &name).unwrap()));
        }
        // The suffix is added to the requested name, as Wintun adds it: the first adapter becomes
        // "oFFICE 1" when "oFFICE" is asked for.
        assert_eq!(names(&list), ["oFFICE 1", "Office 2", "Office", "Ärger", "ärger"]);
        // A suffixed name that does not fit is refused, as on Windows.
        let long = "n".repeat(126);
        list.push(Arc::new(build(StackKind::Fake, &w(&long)).unwrap()));
        let mut policy = ListNames { list: &list, new_name: None };
        assert_eq!(assign_alias(&mut policy, None, &w(&long)), Err(ERROR_BUFFER_OVERFLOW));
        for entry in &list {
            entry.remove();
        }
    }
}
