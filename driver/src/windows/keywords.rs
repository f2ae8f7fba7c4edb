//! The adapter's standardized offload keywords, read from its registry key at initialization
//! (NDIS: "the miniport driver must read all of the granular settings from the registry at
//! initialization"). The shell reads each keyword of [`OFFLOAD_KEYWORDS`] as an integer and
//! hands it to the engine's mapping ([`configured_offloads`]), which decides what starts on. A
//! configuration that cannot be opened, a keyword that is absent, or one whose value NDIS hands
//! back as another type than an integer (a `REG_MULTI_SZ`, a `REG_BINARY`), leaves its offloads
//! on. A `REG_SZ` value (how the Advanced page and NDIS write these keywords) is converted by
//! NDIS for an integer read, and a text that is not a number reads as the integer NDIS's
//! conversion makes of it (0 for "abc" or an empty string: that keyword says "disabled"). NDIS
//! reads the same keywords the same way for its own view of the adapter's offloads, so the
//! driver and NDIS agree on what such a value means.

use core::ptr;

use wdk_sys::UNICODE_STRING;

use super::ndis::*;
use crate::engine::keywords::{configured_offloads, Keyword, OFFLOAD_KEYWORDS};
use crate::engine::offload::TaskOffloads;

/// Room for the longest keyword name, in UTF-16 code units.
const NAME_UNITS: usize = 32;

/// Each keyword's name as UTF-16, in the order of [`OFFLOAD_KEYWORDS`] (the names are ASCII:
/// each byte is one code unit), built at compile time.
static KEYWORD_NAMES: [[u16; NAME_UNITS]; OFFLOAD_KEYWORDS.len()] = utf16_names();

const fn utf16_names() -> [[u16; NAME_UNITS]; OFFLOAD_KEYWORDS.len()] {
    let mut out = [[0u16; NAME_UNITS]; OFFLOAD_KEYWORDS.len()];
    let mut keywords: &[Keyword] = &OFFLOAD_KEYWORDS;
    let mut names: &mut [[u16; NAME_UNITS]] = &mut out;
    while let (Some((keyword, more_keywords)), Some((name, more_names))) =
        (keywords.split_first(), names.split_first_mut())
    {
        *name = utf16(keyword.name);
        keywords = more_keywords;
        names = more_names;
    }
    out
}

/// An ASCII name as UTF-16, zero-padded to [`NAME_UNITS`]; a longer or non-ASCII name fails the
/// build.
const fn utf16(name: &str) -> [u16; NAME_UNITS] {
    assert!(name.len() < NAME_UNITS, "a keyword name longer than NAME_UNITS");
    let mut out = [0u16; NAME_UNITS];
    let mut bytes = name.as_bytes();
    let mut units: &mut [u16] = &mut out;
    while let (Some((&byte, more_bytes)), Some((unit, more_units))) = (bytes.split_first(), units.split_first_mut()) {
        assert!(byte.is_ascii(), "a keyword name that is not ASCII");
        *unit = byte as u16;
        bytes = more_bytes;
        units = more_units;
    }
    out
}

/// The offloads of `offered` the adapter's keywords leave on.
///
/// # Safety
/// PASSIVE_LEVEL (`NdisOpenConfigurationEx` and `NdisReadConfiguration` require it), from
/// `MiniportInitializeEx` with the miniport handle NDIS passed it.
pub unsafe fn configured_task_offloads(miniport: NDIS_HANDLE, offered: TaskOffloads) -> TaskOffloads {
    let object = NDIS_CONFIGURATION_OBJECT {
        Header: NDIS_OBJECT_HEADER {
            Type: NDIS_OBJECT_TYPE_CONFIGURATION_OBJECT,
            Revision: NDIS_CONFIGURATION_OBJECT_REVISION_1,
            // 20: fits the header's u16.
            Size: CONFIGURATION_OBJECT_SIZE_REVISION_1 as u16,
        },
        NdisHandle: miniport,
        Flags: 0,
    };
    let mut handle: NDIS_HANDLE = ptr::null_mut();
    // SAFETY: the object is initialized with its revision-1 header; PASSIVE_LEVEL per the caller.
    let status = unsafe { NdisOpenConfigurationEx(&object, &mut handle) };
    if status != NDIS_STATUS_SUCCESS || handle.is_null() {
        wdk::println!("ringtun: adapter configuration not opened ({status:#x}): every offload on");
        return configured_offloads(offered, |_| None);
    }
    let configured = configured_offloads(offered, |keyword| {
        // SAFETY: `handle` is open until closed below; PASSIVE_LEVEL per the caller.
        unsafe { read_integer(handle, keyword) }
    });
    // SAFETY: opened above; no parameter read from it is used after this.
    unsafe { NdisCloseConfiguration(handle) };
    configured
}

/// The integer value of `keyword` in the open configuration `handle`, or `None` where it is
/// absent or not an integer.
///
/// # Safety
/// `handle` is an open configuration; PASSIVE_LEVEL.
unsafe fn read_integer(handle: NDIS_HANDLE, keyword: &Keyword) -> Option<u32> {
    let index = OFFLOAD_KEYWORDS.iter().position(|k| k.name == keyword.name)?;
    let units = KEYWORD_NAMES.get(index)?;
    // At most NAME_UNITS - 1 units (checked at compile time): the byte lengths fit a u16.
    let length = (keyword.name.len() * 2) as u16;
    let mut name = UNICODE_STRING {
        Length: length,
        MaximumLength: length,
        // NDIS only reads the keyword (`_In_ PNDIS_STRING`): the static stays unwritten.
        Buffer: units.as_ptr().cast_mut(),
    };
    let mut status: NDIS_STATUS = NDIS_STATUS_FAILURE;
    let mut parameter: *mut NDIS_CONFIGURATION_PARAMETER = ptr::null_mut();
    // SAFETY: the out-parameters are valid locals; the name points at a static of `length`
    // bytes; the handle is open (caller).
    unsafe { NdisReadConfiguration(&mut status, &mut parameter, handle, &mut name, NdisParameterInteger) };
    if status != NDIS_STATUS_SUCCESS || parameter.is_null() {
        return None;
    }
    // SAFETY: on success NDIS returns a parameter it owns until the handle is closed; it is read
    // once, here. A value stored as a string (a REG_SZ, as the Advanced page and NDIS write the
    // keywords) is converted by NDIS for an integer read (base 10, up to the first character
    // that is not a digit, 0 if there is none) and comes back as an integer; anything read back
    // as another type is not an integer.
    let (kind, value) = unsafe { ((*parameter).ParameterType, (*parameter).ParameterData.IntegerData) };
    (kind == NdisParameterInteger).then_some(value)
}
