//! The channel between the host and a worker process: length-prefixed frames over a Unix socket.
//!
//! A frame is its length (a little-endian `u32` counting the tag and the payload), a tag, and the payload: fixed-size
//! integers (little-endian) and byte strings (a `u32` length, then the bytes), in an order each tag fixes. The host
//! reads every frame from a worker under a size bound and decodes it field by field, so that a worker cannot make it
//! allocate more than the bound or misread anything: a frame that does not decode ends the worker.

use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

/// Host to worker: a request to run (see [`Frame::request`] in the pool).
pub(crate) const REQUEST: u8 = 1;
/// Host to worker: the answer to a capability call: a status (`REPLY_RETURN`, `REPLY_THROW`, `REPLY_STOP`), then the
/// value's JSON text, the error's JSON text, or the JSON of the `SandboxError` that ends the program.
pub(crate) const REPLY: u8 = 2;
pub(crate) const REPLY_RETURN: u8 = 0;
pub(crate) const REPLY_THROW: u8 = 1;
pub(crate) const REPLY_STOP: u8 = 2;
/// Host to worker, first of all when the worker's settings say so: a startup snapshot another worker built, as
/// `hooks_index` (`u64`) and the blob.
pub(crate) const SNAPSHOT: u8 = 3;

/// Worker to host, once, when it is ready for requests: `READY_OK`, then the snapshot it built (as in `SNAPSHOT`) if
/// it was given none; or `READY_FAILED` and why V8 did not start.
pub(crate) const READY: u8 = 10;
pub(crate) const READY_OK: u8 = 0;
pub(crate) const READY_FAILED: u8 = 1;
/// Worker to host: console lines, each a level byte and a byte string.
pub(crate) const LOGS: u8 = 11;
/// Worker to host: a capability call: capability and function indices (`u32`), then the JSON text of the arguments.
pub(crate) const CALL: u8 = 12;
/// Worker to host: the request's outcome: a status (`REPORT_OK` with the result's JSON text, `REPORT_ERROR` with a
/// `SandboxError` as JSON) after `start_us`, `run_us` and `memory_bytes` (`u64` each).
pub(crate) const REPORT: u8 = 13;
pub(crate) const REPORT_OK: u8 = 0;
pub(crate) const REPORT_ERROR: u8 = 1;

/// A frame being written.
pub(crate) struct Frame(Vec<u8>);

impl Frame {
    pub(crate) fn new(tag: u8) -> Self {
        let mut bytes = Vec::with_capacity(64);
        bytes.extend_from_slice(&[0; 4]);
        bytes.push(tag);
        Self(bytes)
    }

    pub(crate) fn u8(mut self, value: u8) -> Self {
        self.0.push(value);
        self
    }

    pub(crate) fn u32(mut self, value: u32) -> Self {
        self.0.extend_from_slice(&value.to_le_bytes());
        self
    }

    pub(crate) fn u64(mut self, value: u64) -> Self {
        self.0.extend_from_slice(&value.to_le_bytes());
        self
    }

    /// A byte string of at most `u32::MAX` bytes (longer ones fail in [`Frame::send`]).
    pub(crate) fn bytes(mut self, value: &[u8]) -> Self {
        let len = u32::try_from(value.len()).unwrap_or(u32::MAX);
        self.0.extend_from_slice(&len.to_le_bytes());
        self.0.extend_from_slice(value);
        self
    }

    /// Raw bytes up to the end of the frame.
    pub(crate) fn rest(mut self, value: &[u8]) -> Self {
        self.0.extend_from_slice(value);
        self
    }

    /// Writes the frame in one go. Never raises `SIGPIPE` when the other end is gone: that is an error here.
    pub(crate) fn send(mut self, stream: &UnixStream) -> io::Result<()> {
        let len = u32::try_from(self.0.len() - 4).map_err(|_| io::Error::other("a frame is larger than 4 GiB"))?;
        self.0[..4].copy_from_slice(&len.to_le_bytes());
        let mut written = 0;
        while written < self.0.len() {
            let rest = &self.0[written..];
            // SAFETY: the pointer and length describe `rest`, valid for the call.
            let sent = unsafe { libc::send(stream.as_raw_fd(), rest.as_ptr().cast(), rest.len(), libc::MSG_NOSIGNAL) };
            if sent < 0 {
                let error = io::Error::last_os_error();
                if error.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(error);
            }
            written += sent as usize;
        }
        Ok(())
    }
}

/// Reads one frame into `payload` and returns its tag. A frame whose payload is larger than `max_bytes` is an error,
/// found before anything of it is allocated.
pub(crate) fn read(mut stream: &UnixStream, max_bytes: u64, payload: &mut Vec<u8>) -> io::Result<u8> {
    let mut header = [0; 5];
    stream.read_exact(&mut header)?;
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let payload_len = u64::from(len.checked_sub(1).ok_or_else(|| invalid("an empty frame"))?);
    if payload_len > max_bytes {
        return Err(invalid(&format!("a frame of {payload_len} bytes, more than the {max_bytes} allowed")));
    }
    payload.clear();
    payload.resize(payload_len as usize, 0);
    stream.read_exact(payload)?;
    Ok(header[4])
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

/// Decodes a frame's payload field by field; every field is `None` once the payload is too short.
pub(crate) struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    pub(crate) fn new(payload: &'a [u8]) -> Self {
        Self(payload)
    }

    fn take(&mut self, count: usize) -> Option<&'a [u8]> {
        if self.0.len() < count {
            return None;
        }
        let (taken, rest) = self.0.split_at(count);
        self.0 = rest;
        Some(taken)
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|bytes| bytes[0])
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.take(4).map(|bytes| u32::from_le_bytes(bytes.try_into().unwrap_or_default()))
    }

    pub(crate) fn u64(&mut self) -> Option<u64> {
        self.take(8).map(|bytes| u64::from_le_bytes(bytes.try_into().unwrap_or_default()))
    }

    pub(crate) fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = self.u32()?;
        self.take(len as usize)
    }

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn frames_round_trip_and_bounds_hold() {
        let (left, right) = UnixStream::pair().unwrap();
        Frame::new(CALL).u32(7).u64(u64::MAX).bytes(b"abc").rest(b"tail").send(&left).unwrap();
        let mut payload = Vec::new();
        assert_eq!(read(&right, 1024, &mut payload).unwrap(), CALL);
        let mut fields = Fields::new(&payload);
        assert_eq!(fields.u32(), Some(7));
        assert_eq!(fields.u64(), Some(u64::MAX));
        assert_eq!(fields.bytes(), Some(&b"abc"[..]));
        assert_eq!(fields.rest(), b"tail");
        assert!(fields.is_empty());
        assert_eq!(fields.u8(), None);

        // A byte string longer than its frame is refused, not read past the end.
        let mut short = Fields::new(&[9, 0, 0, 0, 1]);
        assert_eq!(short.bytes(), None);

        // Too large a frame is an error before its payload is read.
        Frame::new(LOGS).rest(&[0; 100]).send(&left).unwrap();
        assert_eq!(read(&right, 99, &mut payload).unwrap_err().kind(), io::ErrorKind::InvalidData);

        // An empty frame (no tag) is an error too.
        let mut skipped = [0; 100];
        (&right).read_exact(&mut skipped).unwrap();
        (&left).write_all(&[0, 0, 0, 0, 0]).unwrap();
        assert_eq!(read(&right, 99, &mut payload).unwrap_err().kind(), io::ErrorKind::InvalidData);

        // A closed channel is the end of the stream.
        drop(left);
        assert_eq!(read(&right, 99, &mut payload).unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    }
}
