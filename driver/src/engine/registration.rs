//! Device requests and ring registration.
//!
//! [`Adapter::device_control`] is the one entry for the IOCTLs: the shell passes the buffered
//! input and output and the caller's identity; the engine decides. Registration validates the
//! input with ring-abi's [`parse_registration`], references the client's events and refuses the
//! event the driver waits on named as one it sets, maps each ring through the platform, checks the
//! rings' initial indices, starts the consumer, and raises the link. Anything that fails undoes what was done
//! and refuses with a typed reason.

use crate::fallible::TryArc;

use ring_abi::{
    parse_registration, CallerBitness, Capabilities, RegistrationError, Ring, RingConfig, RingDesc, RingFault,
    RingRole, SharedRing, IOCTL_QUERY_CAPABILITIES, IOCTL_REGISTER_RINGS,
};

use crate::engine::receive::ReceiveState;
use crate::engine::send::SendState;
use crate::engine::session::{Adapter, Owner, Session, SessionEvents};
use crate::engine::stats::bump;
use crate::engine::Status;
use crate::platform::{Event, Platform, PlatformError, RingMapping};

/// Why a registration was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegisterError {
    /// The input failed ring-abi's validation.
    Invalid(RegistrationError),
    /// A ring's initial head (Receive) or tail (Send) is not a valid offset.
    BadInitialIndex(RingRole, RingFault),
    /// The Receive ring's event is also named as the Send ring's or as the write-space event
    /// (one handle twice, or two handles to one event object). The driver waits on (and clears)
    /// the Receive ring's event and sets the others for the client: one object for both would let
    /// the consumer's waits consume the client's wake-ups, and wake the consumer for nothing.
    SharedEvent,
    /// A session is already registered.
    AlreadyRegistered,
    /// The adapter is halted, or its device is being removed.
    Halted,
    /// A platform primitive failed.
    Platform(RingRole, PlatformError),
    /// The engine could not allocate its bookkeeping.
    OutOfMemory,
}

impl RegisterError {
    /// The status the caller sees.
    pub fn status(&self) -> Status {
        match self {
            Self::Invalid(_) | Self::BadInitialIndex(..) | Self::SharedEvent => Status::InvalidParameter,
            Self::Platform(_, PlatformError::InvalidRingAddress) => Status::InvalidUserBuffer,
            Self::Platform(_, PlatformError::InvalidHandle) => Status::InvalidHandle,
            Self::AlreadyRegistered => Status::AlreadyInitialized,
            Self::Halted => Status::DeviceNotReady,
            Self::Platform(..) | Self::OutOfMemory => Status::InsufficientResources,
        }
    }
}

/// Longest input any ringtun request has (a v2 registration with the write-space event is 64
/// bytes, a plain v2 registration 56, a 64-bit v1 registration 48). A shell that must copy the
/// input before the output is written (METHOD_BUFFERED shares one buffer) copies at most this
/// much and refuses longer input with [`Status::InvalidParameter`], the status the engine gives
/// any input of a wrong length.
pub const MAX_REQUEST_INPUT: usize = 64;

const _: () = assert!(MAX_REQUEST_INPUT >= ring_abi::V2_REGISTRATION_SIZE);
const _: () = assert!(MAX_REQUEST_INPUT >= ring_abi::V2_REGISTRATION_EXT_SIZE);
const _: () = assert!(MAX_REQUEST_INPUT >= ring_abi::V1_REGISTRATION_SIZE_64);

impl<P: Platform> Adapter<P> {
    /// Handles one device IOCTL. Returns the number of output bytes written.
    pub fn device_control(
        &self,
        owner: Owner,
        caller: CallerBitness,
        code: u32,
        input: &[u8],
        output: &mut [u8],
    ) -> Result<usize, Status> {
        match code {
            IOCTL_REGISTER_RINGS => self.register(owner, caller, input).map(|()| 0).map_err(|e| e.status()),
            IOCTL_QUERY_CAPABILITIES => {
                let bytes = Capabilities::CURRENT.to_bytes();
                let dst = output.get_mut(..bytes.len()).ok_or(Status::BufferTooSmall)?;
                dst.copy_from_slice(&bytes);
                Ok(bytes.len())
            }
            _ => Err(Status::InvalidDeviceRequest),
        }
    }

    /// Registers a session from raw input bytes.
    pub fn register(&self, owner: Owner, caller: CallerBitness, input: &[u8]) -> Result<(), RegisterError> {
        let result = self.try_register(owner, caller, input);
        match result {
            Ok(()) => bump(&self.inner.stats.sessions_registered),
            Err(_) => bump(&self.inner.stats.registrations_refused),
        }
        result
    }

    fn try_register(&self, owner: Owner, caller: CallerBitness, input: &[u8]) -> Result<(), RegisterError> {
        // Cheap refusals first, before any page is locked.
        let generation = {
            let mut state = self.inner.state.lock();
            if state.halted || state.removing {
                return Err(RegisterError::Halted);
            }
            if state.session.is_some() {
                return Err(RegisterError::AlreadyRegistered);
            }
            let generation = state.next_generation;
            state.next_generation = state.next_generation.wrapping_add(1).max(1);
            generation
        };
        let config = parse_registration(input, caller).map_err(RegisterError::Invalid)?;
        let platform = &self.inner.platform;
        // The session is built in steps of their own, so that no one stack frame holds every
        // temporary of the registration at once (kernel stacks are small; the frames are
        // measured in CI by the Windows-target check).
        let session = self.build_session(owner, caller, config, generation)?;
        // The consumer is started (and attached, so that teardown always joins it) before the
        // session is visible; it waits for `started`, set once the session is published.
        match platform.spawn_worker(TryArc::clone(&session)) {
            Ok(worker) => session.set_worker(worker),
            Err(e) => {
                session.discard();
                return Err(RegisterError::Platform(RingRole::Receive, e));
            }
        }
        let refused = {
            let mut state = self.inner.state.lock();
            if state.halted || state.removing {
                Some(RegisterError::Halted)
            } else if state.session.is_some() {
                Some(RegisterError::AlreadyRegistered)
            } else {
                state.session = Some(TryArc::clone(&session));
                None
            }
        };
        if let Some(error) = refused {
            session.discard();
            return Err(error);
        }
        session.started.set();
        session.raise_link();
        Ok(())
    }
}

impl<P: Platform> Adapter<P> {
    /// References the client's events (the Send ring's, the Receive ring's, then the Receive
    /// ring's write-space event if any) and refuses the Receive ring's named again as another;
    /// then for each ring in turn (Send, then Receive) maps the ring and checks its initial
    /// index; then creates the engine's events and allocates the session (not yet started or
    /// published).
    #[inline(never)]
    fn build_session(
        &self,
        owner: Owner,
        caller: CallerBitness,
        config: RingConfig,
        generation: u16,
    ) -> Result<TryArc<Session<P>>, RegisterError> {
        let platform = &self.inner.platform;
        // The events first, then the memory, as Wintun's driver does per ring: a registration
        // naming closed handles and freed memory (a stale one) is refused for its handle, with
        // Wintun's status. All of them come before either ring, so that an event named twice is
        // refused before any page is locked.
        let send_event = reference_event(platform, RingRole::Send, &config.send)?;
        let receive_event = reference_event(platform, RingRole::Receive, &config.receive)?;
        // The write-space event is only set by the driver (the client waits on it): referenced with
        // the access of an event the driver signals.
        let space_event = match config.write_space_event {
            Some(handle) => Some(
                platform
                    .reference_event(RingRole::Send, handle)
                    .map_err(|e| RegisterError::Platform(RingRole::Receive, e))?,
            ),
            None => None,
        };
        // The one event the driver waits on must be none of those it sets (which the client may
        // share between them: it is the one waiting on both).
        let shared = send_event.is_same_object(&receive_event)
            || space_event.as_ref().is_some_and(|space| space.is_same_object(&receive_event));
        if shared {
            return Err(RegisterError::SharedEvent);
        }
        let send = send_state(platform, &config.send, caller, send_event)?;
        let receive = receive_state(platform, &config.receive, caller, receive_event, space_event)?;
        let event = |role| platform.create_event().map_err(|e| RegisterError::Platform(role, e));
        let events = SessionEvents {
            stop: event(RingRole::Receive)?,
            started: event(RingRole::Receive)?,
            closed: event(RingRole::Receive)?,
            link_indicated: event(RingRole::Receive)?,
        };
        let adapter = TryArc::clone(&self.inner);
        match TryArc::try_new(Session::new(adapter, owner, config, generation, send, receive, events)) {
            Ok(session) => Ok(session),
            Err(_) => Err(RegisterError::OutOfMemory),
        }
    }
}

/// The client's event of the ring `role`, referenced by handle: for signalling (Send ring) or
/// waiting (Receive ring).
fn reference_event<P: Platform>(platform: &P, role: RingRole, desc: &RingDesc) -> Result<P::Event, RegisterError> {
    platform.reference_event(role, desc.tail_moved_event).map_err(|e| RegisterError::Platform(role, e))
}

/// The Send ring's state: the client's event (referenced for signalling), the ring mapped, its
/// initial tail read once and validated (the private cursor starts there).
#[inline(never)]
fn send_state<P: Platform>(
    platform: &P,
    desc: &RingDesc,
    caller: CallerBitness,
    client_event: P::Event,
) -> Result<SendState<P>, RegisterError> {
    let (ring, mapping) = map(platform, RingRole::Send, desc, caller)?;
    let tail = ring.load_tail();
    ring.geometry().check_tail(tail).map_err(|f| RegisterError::BadInitialIndex(RingRole::Send, f))?;
    let drained = platform.create_event().map_err(|e| RegisterError::Platform(RingRole::Send, e))?;
    match SendState::new(ring, mapping, client_event, drained, tail) {
        Some(send) => Ok(send),
        None => Err(RegisterError::OutOfMemory),
    }
}

/// The Receive ring's state: the client's event (referenced for waiting) and its write-space
/// event (if any, referenced for signalling), the ring mapped, its initial head read once and
/// validated (the consumer's cursor starts there), not alertable.
#[inline(never)]
fn receive_state<P: Platform>(
    platform: &P,
    desc: &RingDesc,
    caller: CallerBitness,
    client_event: P::Event,
    space_event: Option<P::Event>,
) -> Result<ReceiveState<P>, RegisterError> {
    let (ring, mapping) = map(platform, RingRole::Receive, desc, caller)?;
    let head = ring.load_head();
    ring.geometry().check_head(head).map_err(|f| RegisterError::BadInitialIndex(RingRole::Receive, f))?;
    let event = || platform.create_event().map_err(|e| RegisterError::Platform(RingRole::Receive, e));
    let (returned, space, round_done) = (event()?, event()?, event()?);
    // `let else` rather than `?` on the large value: fewer copies of it in unoptimized builds.
    let Some(receive) = ReceiveState::new(ring, mapping, client_event, space_event, returned, space, round_done, head)
    else {
        return Err(RegisterError::OutOfMemory);
    };
    // The Receive ring starts not alertable: the consumer sets it when it sleeps.
    receive.ring.store_alertable(false);
    Ok(receive)
}

fn map<P: Platform>(
    platform: &P,
    role: RingRole,
    desc: &RingDesc,
    caller: CallerBitness,
) -> Result<(Ring, P::Mapping), RegisterError> {
    let size = desc.geometry.ring_size();
    let mapping = platform.map_ring(role, desc.ring_ptr, size, caller).map_err(|e| RegisterError::Platform(role, e))?;
    // SAFETY: the platform guarantees `mapping.base()` is valid for `mapping.mapped_len()` bytes until the
    // mapping is dropped. The returned `Ring` is stored in the session state next to its mapping
    // (`SendState::mapping`, the consumer state of `ReceiveState`); a mapping is dropped either
    // with the session state or by teardown, which releases it only after the last access
    // through the `Ring` (the send gate is closed and drained, the consumer is joined, every
    // indication is back, and the ring is marked stopped so no late return stores `head`).
    // The client may write the bytes concurrently, which `SharedRing` tolerates.
    let memory = unsafe { SharedRing::new(mapping.base(), mapping.mapped_len(), desc.geometry.version()) }
        .ok_or(RegisterError::Platform(role, PlatformError::InvalidRingAddress))?;
    // A mapping shorter than the ring is refused here.
    let ring = Ring::new(memory, desc.geometry)
        .map_err(|_| RegisterError::Platform(role, PlatformError::InvalidRingAddress))?;
    Ok((ring, mapping))
}
