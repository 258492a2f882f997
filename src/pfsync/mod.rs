//! pfsync: the wire protocol pf uses to announce state changes.
//!
//! Layouts, sizes and byte order come from `shared/reference/pfsync-formats.md`
//! (section numbers below refer to it). Everything here is pure: bytes in,
//! [`Message`]s out. No allocation per message, no panic on any input.
//!
//! A frame is checked once at its entry ([`parse_frame`]): the version byte
//! picks the dialect, the header's length is compared with what was
//! captured. [`Frame::messages`] then walks the messages; a malformed message
//! yields an `Err` for that message (or ends the walk when the framing
//! itself is lost), so the caller can count it and keep what came before.
//!
//! Dialects decoded (§1), chosen per frame by its version byte:
//! - legacy 2, 3, 4 (§3, [`legacy`]): one action per frame, `count` records
//!   of the action's fixed size, no length field;
//! - 5 (§4.5, §5, [`freebsd`]): OpenBSD 4.5 and every FreeBSD since 9;
//!   20-byte header with `len`, subheaders without message length (sizes
//!   come from the action code; codes 13–16 are FreeBSD's 1400/1500
//!   states), EOF ends a frame;
//! - OpenBSD current, version 6 (§4): 20-byte header, subheaders carrying
//!   each message's length in 32-bit words, so unknown actions and longer
//!   future messages are stepped over by that length, never guessed; the
//!   state layout is chosen by that length (264 = current) and a state of
//!   any other length is counted and skipped, not read (see [`openbsd`]).
//!
//! What this module does not do: decide what a message means for a flow
//! (that is [`crate::state`]), or unwrap link layers (that is [`carrier`]).

pub mod carrier;
pub mod encode;
pub mod freebsd;
pub mod legacy;
mod message;
pub mod openbsd;

pub use message::*;

use std::fmt;

/// Size of the version 5/6 frame header (§4.1).
pub const HEADER_LEN: usize = 20;
/// Size of a message subheader (§4.2).
pub const SUBHEADER_LEN: usize = 4;

/// The pfsync variant a frame speaks, decided from its version byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// OpenBSD 3.5–3.9, FreeBSD 5.3–6: 224-byte states, 32-bit counters.
    LegacyV2,
    /// OpenBSD 4.0–4.3, FreeBSD 7–8: 240-byte states, lan/gwy/ext hosts.
    LegacyV3,
    /// OpenBSD 4.4: 240-byte states with `key[2]`.
    LegacyV4,
    /// OpenBSD 4.5 and FreeBSD 9 → 15: version 5, sizes by action code.
    V5,
    /// OpenBSD since ~2010: version 6, subheaders with lengths (§4).
    OpenBsdV6,
}

impl Dialect {
    /// Every dialect, oldest first.
    pub const ALL: [Dialect; 5] = [
        Dialect::LegacyV2,
        Dialect::LegacyV3,
        Dialect::LegacyV4,
        Dialect::V5,
        Dialect::OpenBsdV6,
    ];
    /// The frame's `version` byte.
    pub fn version(self) -> u8 {
        match self {
            Dialect::LegacyV2 => 2,
            Dialect::LegacyV3 => 3,
            Dialect::LegacyV4 => 4,
            Dialect::V5 => 5,
            Dialect::OpenBsdV6 => 6,
        }
    }
    /// A short name for logs and statistics.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::LegacyV2 => "legacy-v2",
            Dialect::LegacyV3 => "legacy-v3",
            Dialect::LegacyV4 => "legacy-v4",
            Dialect::V5 => "v5",
            Dialect::OpenBsdV6 => "openbsd-v6",
        }
    }
    fn legacy(self) -> Option<legacy::Legacy> {
        match self {
            Dialect::LegacyV2 => Some(legacy::Legacy::V2),
            Dialect::LegacyV3 => Some(legacy::Legacy::V3),
            Dialect::LegacyV4 => Some(legacy::Legacy::V4),
            _ => None,
        }
    }
}

/// Why a frame or message could not be used. Each kind has a stable counter
/// name so statistics can say what was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Shorter than a frame header.
    Runt { captured: usize },
    /// A version byte we do not read.
    UnsupportedVersion(u8),
    /// The header says more bytes than were captured (the kernel drops these).
    ShortFrame { declared: usize, captured: usize },
    /// The header's length is smaller than the header itself.
    BadLength { declared: usize },
    /// A subheader whose message length is zero while it announces messages:
    /// the rest of the frame cannot be walked.
    BadSubheader { action: u8 },
    /// Messages announced past the end of the frame.
    Truncated { action: u8 },
    /// A known action whose messages are smaller than its structure.
    MessageTooSmall { action: u8, size: usize },
    /// A full-state message of a size we have no layout for.
    UnknownStateLayout { action: u8, size: usize },
    /// A v6 full-state message longer than the one layout we know: a newer
    /// sender's, whose fields may have moved (see [`openbsd`]). Skipped by
    /// its length, counted apart so an operator can tell a newer peer from
    /// damage.
    StateLongerThanKnown { action: u8, size: usize },
    /// An action whose size is not known in a dialect without per-message
    /// lengths (legacy, v5): the rest of the frame cannot be walked.
    UnwalkableAction { action: u8 },
}

impl DecodeError {
    /// Stable name for the statistics counter this error raises.
    pub fn counter_name(&self) -> &'static str {
        match self {
            DecodeError::Runt { .. } => "runt",
            DecodeError::UnsupportedVersion(_) => "unsupported_version",
            DecodeError::ShortFrame { .. } => "short_frame",
            DecodeError::BadLength { .. } => "bad_length",
            DecodeError::BadSubheader { .. } => "bad_subheader",
            DecodeError::Truncated { .. } => "truncated",
            DecodeError::MessageTooSmall { .. } => "message_too_small",
            DecodeError::UnknownStateLayout { .. } => "unknown_state_layout",
            DecodeError::StateLongerThanKnown { .. } => "state_longer_than_known",
            DecodeError::UnwalkableAction { .. } => "unwalkable_action",
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Runt { captured } => write!(f, "runt frame ({captured} bytes)"),
            DecodeError::UnsupportedVersion(v) => write!(f, "unsupported pfsync version {v}"),
            DecodeError::ShortFrame { declared, captured } => write!(
                f,
                "frame declares {declared} bytes but {captured} were captured"
            ),
            DecodeError::BadLength { declared } => {
                write!(f, "frame length {declared} is shorter than its header")
            }
            DecodeError::BadSubheader { action } => {
                write!(f, "subheader for action {action} has zero length")
            }
            DecodeError::Truncated { action } => {
                write!(f, "messages of action {action} run past the frame")
            }
            DecodeError::MessageTooSmall { action, size } => {
                write!(f, "action {action} message of {size} bytes is too small")
            }
            DecodeError::UnknownStateLayout { action, size } => {
                write!(f, "no state layout of {size} bytes (action {action})")
            }
            DecodeError::StateLongerThanKnown { action, size } => write!(
                f,
                "state of {size} bytes is longer than the {} bytes known (action {action}): \
                 a newer sender's layout, skipped",
                openbsd::STATE_LEN
            ),
            DecodeError::UnwalkableAction { action } => {
                write!(
                    f,
                    "action {action} has no known size; rest of frame skipped"
                )
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// A frame whose header has been checked.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    pub dialect: Dialect,
    /// The messages area: from after the header to the header's `len`
    /// (legacy: to the end of the `count` records).
    body: &'a [u8],
    /// Legacy only: the frame's one action and its record size and count.
    legacy: Option<(u8, usize, usize)>,
}

/// Checks a frame's header (§3.1, §4.1) and picks its dialect.
///
/// Bytes past the header's length (legacy: past `count` records) are
/// ignored, as the kernel does; a frame captured shorter than that is
/// refused whole.
pub fn parse_frame(buf: &[u8]) -> Result<Frame<'_>, DecodeError> {
    let Some(&version) = buf.first() else {
        return Err(DecodeError::Runt { captured: 0 });
    };
    let dialect = match version {
        2 => Dialect::LegacyV2,
        3 => Dialect::LegacyV3,
        4 => Dialect::LegacyV4,
        5 => Dialect::V5,
        6 => Dialect::OpenBsdV6,
        v => return Err(DecodeError::UnsupportedVersion(v)),
    };
    if let Some(l) = dialect.legacy() {
        let hl = l.header_len();
        if buf.len() < hl {
            return Err(DecodeError::Runt {
                captured: buf.len(),
            });
        }
        let act = buf[2];
        let count = usize::from(buf[3]);
        let Some(size) = l.record_len(act) else {
            return Err(DecodeError::UnwalkableAction { action: act });
        };
        // count ≤ 255, size ≤ 240: no overflow.
        let declared = hl + count * size;
        let Some(frame) = buf.get(..declared) else {
            return Err(DecodeError::ShortFrame {
                declared,
                captured: buf.len(),
            });
        };
        return Ok(Frame {
            dialect,
            body: frame.get(hl..).unwrap_or_default(),
            legacy: Some((act, size, count)),
        });
    }
    if buf.len() < HEADER_LEN {
        return Err(DecodeError::Runt {
            captured: buf.len(),
        });
    }
    let declared = usize::from(crate::wire::be16(buf, 2));
    if declared < HEADER_LEN {
        return Err(DecodeError::BadLength { declared });
    }
    let Some(frame) = buf.get(..declared) else {
        return Err(DecodeError::ShortFrame {
            declared,
            captured: buf.len(),
        });
    };
    Ok(Frame {
        dialect,
        body: frame.get(HEADER_LEN..).unwrap_or_default(),
        legacy: None,
    })
}

impl<'a> Frame<'a> {
    /// Iterates over the frame's messages in order.
    pub fn messages(&self) -> Messages<'a> {
        let (action, size, remaining) = self.legacy.unwrap_or((0, 0, 0));
        Messages {
            dialect: self.dialect,
            rest: self.body,
            action,
            size,
            remaining,
            single: self.legacy.is_some(),
        }
    }
}

/// Iterator over a frame's messages; see [`Frame::messages`].
pub struct Messages<'a> {
    dialect: Dialect,
    rest: &'a [u8],
    action: u8,
    size: usize,
    remaining: usize,
    /// Legacy frames: one action, no subheaders.
    single: bool,
}

impl Messages<'_> {
    fn stop(&mut self) {
        self.rest = &[];
        self.remaining = 0;
    }
}

impl Iterator for Messages<'_> {
    type Item = Result<Message, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.remaining == 0 {
            if self.single || self.rest.len() < SUBHEADER_LEN {
                // Fewer bytes than a subheader left: padding or nothing.
                self.stop();
                return None;
            }
            let action = self.rest[0];
            let count = usize::from(crate::wire::be16(self.rest, 2));
            let size = match self.dialect {
                Dialect::OpenBsdV6 => usize::from(self.rest[1]) * 4,
                _ => match freebsd::message_len(action) {
                    Some(n) => n,
                    None => {
                        self.stop();
                        return Some(Err(DecodeError::UnwalkableAction { action }));
                    }
                },
            };
            self.rest = &self.rest[SUBHEADER_LEN..];
            if count == 0 {
                continue;
            }
            if action == freebsd::action::EOF && self.dialect == Dialect::V5 {
                // End of frame: whatever follows is not ours.
                self.stop();
                return Some(Ok(Message::Eof));
            }
            if size == 0 {
                self.stop();
                return Some(Err(DecodeError::BadSubheader { action }));
            }
            // count and size are at most 65535 and 1020: no overflow.
            if size * count > self.rest.len() {
                self.stop();
                return Some(Err(DecodeError::Truncated { action }));
            }
            self.action = action;
            self.size = size;
            self.remaining = count;
        }
        let (msg, rest) = self.rest.split_at(self.size.min(self.rest.len()));
        self.rest = rest;
        self.remaining -= 1;
        Some(match self.dialect {
            Dialect::OpenBsdV6 => openbsd::decode_v6(self.action, msg),
            Dialect::V5 => freebsd::decode(self.action, msg),
            d => legacy::decode(d.legacy().unwrap_or(legacy::Legacy::V2), self.action, msg),
        })
    }
}

/// Decodes every message of a frame, handing each result to `f`; returns the
/// frame-level error, if any. A convenience for callers that do not need the
/// iterator.
pub fn for_each_message(
    buf: &[u8],
    mut f: impl FnMut(Result<Message, DecodeError>),
) -> Result<Dialect, DecodeError> {
    let frame = parse_frame(buf)?;
    for m in frame.messages() {
        f(m);
    }
    Ok(frame.dialect)
}

/// Test helper for the hand-built decoder tests: sets every byte of `b`
/// outside the `read` ranges to filler (`0xc0 | offset % 64`), so a field
/// read one byte off its offset lands on filler and gives a wrong value
/// instead of a lucky zero.
#[cfg(test)]
pub(crate) fn fill_unread(b: &mut [u8], read: &[std::ops::Range<usize>]) {
    for (i, x) in b.iter_mut().enumerate() {
        if !read.iter().any(|r| r.contains(&i)) {
            *x = 0xc0 | (i as u8 & 0x3f);
        }
    }
}

/// Test helper: an IPv4 address as the 16-byte `pf_addr` carries it (§3.3).
#[cfg(test)]
pub(crate) fn addr4(a: [u8; 4]) -> [u8; 16] {
    let mut x = [0u8; 16];
    x[..4].copy_from_slice(&a);
    x
}
