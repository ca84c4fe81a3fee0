//! The one log budget of a step: every line recorded from the guest — the
//! `log` import, stdout and stderr together — is charged against
//! [`StepLimits::logs`](super::StepLimits::logs) as it arrives.
//!
//! A line costs what the host holds and stores for it, not just its text:
//! its JSON-escaped length (a control character is six bytes in the
//! record) plus [`LINE_OVERHEAD`] bytes, so a flood of empty lines runs out
//! of budget as surely as a flood of long ones. One line keeps at most
//! [`MAX_LOG_LINE`] bytes of text; the rest is replaced by a marker.
//!
//! Past the budget the guest is stopped (`log_limit`), and the recorded
//! logs end with a `host` line saying so: what was recorded before the cap
//! stays, nothing after it is kept.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

use super::host_state::{LogLevel, LogLine, LogSource};
use crate::units::ByteSize;

/// Bytes charged per line on top of its text: about what one line costs
/// in host memory (a `LogLine`) and in the stored record's JSON.
pub const LINE_OVERHEAD: usize = 64;

/// Longest text kept of one log line; the rest is cut and replaced by a
/// `… [N bytes cut]` marker.
pub const MAX_LOG_LINE: usize = 64 * 1024;

/// Most bytes the guest may hand stdout or stderr in one write.
const WRITE_PERMIT: usize = 64 * 1024;

/// The guest wrote past the step's log budget.
#[derive(Debug)]
pub struct LogLimitReached;

/// A stdout or stderr line not yet ended by a newline.
#[derive(Debug, Default)]
struct Partial {
    bytes: Vec<u8>,
    /// Bytes past [`MAX_LOG_LINE`] dropped from this line.
    cut: usize,
}

/// The lines recorded from one step and what they cost so far.
#[derive(Debug)]
pub struct LogBook {
    cap: usize,
    used: usize,
    lines: Vec<LogLine>,
    partial: [Partial; 2],
    exceeded: bool,
}

/// The JSON-encoded length of `text` without its quotes.
pub fn json_len(text: &str) -> usize {
    text.bytes()
        .map(|b| match b {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
            0..0x20 => 6,
            _ => 1,
        })
        .sum()
}

/// What recording `text` as one line costs.
pub fn line_cost(text: &str) -> usize {
    LINE_OVERHEAD + json_len(text)
}

/// Cuts `text` to at most `max` bytes (at a character boundary), appending
/// a marker that says how much was cut.
pub fn cut(mut text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let total = text.len();
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push_str(&cut_marker(total - end));
    text
}

fn cut_marker(bytes: usize) -> String {
    format!("… [{bytes} bytes cut]")
}

impl LogBook {
    /// An empty book with a budget of `cap`.
    pub fn new(cap: ByteSize) -> Self {
        Self {
            cap: cap.as_usize(),
            used: 0,
            lines: Vec::new(),
            partial: Default::default(),
            exceeded: false,
        }
    }

    /// Whether the guest went past the budget.
    pub fn exceeded(&self) -> bool {
        self.exceeded
    }

    fn pending(&self) -> usize {
        self.partial.iter().map(|p| p.bytes.len()).sum()
    }

    fn charge(&mut self, cost: usize) -> Result<(), LogLimitReached> {
        if self.exceeded || self.used + self.pending() + cost > self.cap {
            self.exceeded = true;
            return Err(LogLimitReached);
        }
        self.used += cost;
        Ok(())
    }

    /// Records a line of the `log` import.
    pub fn log(&mut self, level: LogLevel, message: String) -> Result<(), LogLimitReached> {
        let message = cut(message, MAX_LOG_LINE);
        self.charge(line_cost(&message))?;
        self.lines.push(LogLine {
            level,
            source: LogSource::Log,
            message,
            at: Some(chrono::Utc::now()),
        });
        Ok(())
    }

    /// Records bytes the guest wrote to stdout or stderr: each complete
    /// line becomes a log line at once, the unfinished one waits (and
    /// counts against the budget) until its newline or the end.
    pub fn write(&mut self, source: LogSource, bytes: &[u8]) -> Result<(), LogLimitReached> {
        if self.exceeded {
            return Err(LogLimitReached);
        }
        let slot = stream_slot(source);
        let mut rest = bytes;
        loop {
            let (chunk, ended) = match rest.iter().position(|&b| b == b'\n') {
                Some(at) => (&rest[..at], true),
                None => (rest, false),
            };
            let partial = &mut self.partial[slot];
            let room = MAX_LOG_LINE.saturating_sub(partial.bytes.len());
            let kept = chunk.len().min(room);
            if self.used + self.pending() + kept > self.cap {
                self.exceeded = true;
                return Err(LogLimitReached);
            }
            let partial = &mut self.partial[slot];
            partial.bytes.extend_from_slice(&chunk[..kept]);
            partial.cut += chunk.len() - kept;
            if !ended {
                return Ok(());
            }
            self.end_line(source, true)?;
            rest = &rest[chunk.len() + 1..];
        }
    }

    /// Turns the unfinished line of `source` into a log line; `enforce`
    /// false records it even past the budget (at the end, where its raw
    /// bytes were already charged and decoding adds a bounded amount).
    fn end_line(&mut self, source: LogSource, enforce: bool) -> Result<(), LogLimitReached> {
        let partial = std::mem::take(&mut self.partial[stream_slot(source)]);
        let mut message = String::from_utf8_lossy(&partial.bytes).into_owned();
        if partial.cut > 0 {
            message.push_str(&cut_marker(partial.cut));
        }
        let cost = line_cost(&message);
        if enforce {
            self.charge(cost)?;
        } else {
            self.used = self.used.saturating_add(cost);
        }
        self.lines.push(LogLine {
            level: match source {
                LogSource::Stderr => LogLevel::Warn,
                _ => LogLevel::Info,
            },
            source,
            message,
            at: Some(chrono::Utc::now()),
        });
        Ok(())
    }

    /// Text written to stderr so far (complete lines, then the unfinished
    /// one), for explaining a guest panic.
    pub fn stderr_text(&self) -> String {
        let mut text: String = self
            .lines
            .iter()
            .filter(|l| l.source == LogSource::Stderr)
            .flat_map(|l| [l.message.as_str(), "\n"])
            .collect();
        text.push_str(&String::from_utf8_lossy(
            &self.partial[stream_slot(LogSource::Stderr)].bytes,
        ));
        text
    }

    /// Every recorded line in time order: unfinished stdout/stderr lines
    /// are ended, the host's `notes` merged in, and a `host` line added if
    /// the guest went past the budget.
    pub fn finish(&mut self, notes: Vec<LogLine>) -> Vec<LogLine> {
        for source in [LogSource::Stdout, LogSource::Stderr] {
            if !self.partial[stream_slot(source)].bytes.is_empty() {
                let _ = self.end_line(source, false);
            }
        }
        let mut lines = std::mem::take(&mut self.lines);
        lines.extend(notes);
        if self.exceeded {
            lines.push(LogLine {
                level: LogLevel::Error,
                source: LogSource::Host,
                message: format!(
                    "log limit {} reached: later log lines, stdout and stderr were not recorded",
                    ByteSize(self.cap as u64)
                ),
                at: Some(chrono::Utc::now()),
            });
        }
        // Guest lines and the host's notes interleave in time order.
        lines.sort_by_key(|l| l.at);
        lines
    }
}

/// Locks a shared book; a panic while holding the lock cannot leave it
/// half-written.
pub fn lock(book: &Mutex<LogBook>) -> MutexGuard<'_, LogBook> {
    book.lock().unwrap_or_else(|e| e.into_inner())
}

/// The guest's stdout or stderr, written into the step's [`LogBook`].
#[derive(Clone, Debug)]
pub struct GuestOutput {
    book: Arc<Mutex<LogBook>>,
    source: LogSource,
}

impl GuestOutput {
    /// The stream `source` (`Stdout` or `Stderr`) of `book`.
    pub fn new(book: Arc<Mutex<LogBook>>, source: LogSource) -> Self {
        Self { book, source }
    }
}

fn limit_trap() -> StreamError {
    StreamError::trap("log limit exceeded")
}

impl OutputStream for GuestOutput {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        lock(&self.book)
            .write(self.source, &bytes)
            .map_err(|LogLimitReached| limit_trap())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        if lock(&self.book).exceeded() {
            return Err(limit_trap());
        }
        Ok(WRITE_PERMIT)
    }
}

impl Pollable for GuestOutput {
    // What `#[async_trait]` expands `async fn ready(&mut self)` to; the
    // stream is always ready.
    fn ready<'life0, 'async_trait>(
        &'life0 mut self,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async {})
    }
}

impl AsyncWrite for GuestOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let written = lock(&self.book)
            .write(self.source, buf)
            .map(|()| buf.len())
            .map_err(|LogLimitReached| std::io::Error::other("log limit exceeded"));
        Poll::Ready(written)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

fn stream_slot(source: LogSource) -> usize {
    match source {
        LogSource::Stderr => 1,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_lines_cost_their_overhead() {
        let mut book = LogBook::new(ByteSize(LINE_OVERHEAD as u64 * 10));
        let mut written = 0;
        while book.write(LogSource::Stdout, b"\n").is_ok() {
            written += 1;
            assert!(written <= 10, "empty lines must not be free");
        }
        assert_eq!(written, 10);
        assert!(book.exceeded());
        let lines = book.finish(Vec::new());
        assert_eq!(lines.len(), 11);
        assert_eq!(lines[10].source, LogSource::Host);
        assert!(lines[10].message.contains("log limit 640 bytes reached"));
    }

    #[test]
    fn log_import_stdout_and_stderr_share_one_budget_in_order() {
        let mut book = LogBook::new(ByteSize(1000));
        book.log(LogLevel::Info, "first".into()).unwrap();
        book.write(LogSource::Stdout, b"out\nparti").unwrap();
        book.write(LogSource::Stderr, b"err\n").unwrap();
        book.write(LogSource::Stdout, b"al\n").unwrap();
        let texts: Vec<String> = book
            .finish(Vec::new())
            .into_iter()
            .map(|l| l.message)
            .collect();
        assert_eq!(texts, ["first", "out", "err", "partial"]);

        let mut book = LogBook::new(ByteSize(300));
        book.log(LogLevel::Info, "x".repeat(100)).unwrap();
        book.write(LogSource::Stdout, &[b'y'; 100]).unwrap();
        assert!(book.write(LogSource::Stderr, &[b'z'; 100]).is_err());
        assert!(book.log(LogLevel::Info, String::new()).is_err());
    }

    #[test]
    fn control_characters_are_charged_as_escaped() {
        assert_eq!(json_len("\u{1}\u{1}"), 12);
        assert_eq!(json_len("a\"b"), 4);
        let mut book = LogBook::new(ByteSize(LINE_OVERHEAD as u64 + 60));
        assert!(book.log(LogLevel::Info, "\u{1}".repeat(11)).is_err());
    }

    #[test]
    fn long_lines_are_cut_with_a_marker() {
        let mut book = LogBook::new(ByteSize::mib(1));
        book.log(LogLevel::Info, "é".repeat(MAX_LOG_LINE)).unwrap();
        book.write(LogSource::Stdout, &vec![b'a'; MAX_LOG_LINE + 10])
            .unwrap();
        let lines = book.finish(Vec::new());
        assert!(lines[0].message.len() < MAX_LOG_LINE + 40);
        assert!(
            lines[0]
                .message
                .ends_with(&format!("[{} bytes cut]", MAX_LOG_LINE))
        );
        assert!(
            lines[1].message.ends_with("[10 bytes cut]"),
            "{}",
            &lines[1].message[MAX_LOG_LINE..]
        );
    }
}
