//! The text log format: one line per event, `2026-12-05T05:14:50.123456Z  INFO target: message
//! key=value …`, preceded by the open spans (`request{method=GET path=/…}:`) when there are any.
//!
//! tracing-subscriber's own compact format says the same, but at the default level every request
//! writes a line, and its general machinery (styles that print nothing without colours, a
//! timestamp rebuilt from scratch, `Debug` for every value) cost about as much as the rest of an
//! authenticated `/Me`. This one writes straight into the line: the date part of the timestamp
//! is reused within a second, integers are written as integers, and control characters in
//! values are escaped so that no value can forge a line or a terminal sequence.

use std::cell::RefCell;
use std::fmt::{self, Write};
use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The format; see the module documentation.
pub struct Line;

impl<S, N> FormatEvent<S, N> for Line
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write_timestamp(&mut writer, SystemTime::now())?;
        writer.write_str(level_label(*event.metadata().level()))?;
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                writer.write_str(span.name())?;
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    write!(writer, "{{{fields}}}")?;
                }
                writer.write_str(": ")?;
            }
        }
        writer.write_str(event.metadata().target())?;
        writer.write_str(":")?;
        let mut fields = Fields { writer: &mut writer, result: Ok(()) };
        event.record(&mut fields);
        fields.result?;
        writer.write_char('\n')
    }
}

fn level_label(level: Level) -> &'static str {
    match level {
        Level::ERROR => " ERROR ",
        Level::WARN => "  WARN ",
        Level::INFO => "  INFO ",
        Level::DEBUG => " DEBUG ",
        Level::TRACE => " TRACE ",
    }
}

/// Writes the event's fields: the message first, as it is, then ` key=value` for the others.
struct Fields<'w, 'a> {
    writer: &'w mut Writer<'a>,
    result: fmt::Result,
}

impl Fields<'_, '_> {
    fn field(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        if self.result.is_err() {
            return;
        }
        let name = field.name();
        self.result = self
            .writer
            .write_char(' ')
            .and_then(|()| match name {
                "message" => Ok(()),
                _ => self.writer.write_str(name).and(self.writer.write_char('=')),
            })
            .and_then(|()| Escaped(&mut *self.writer).write_fmt(value));
    }
}

impl Visit for Fields<'_, '_> {
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.field(field, format_args!("{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.field(field, format_args!("{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.field(field, format_args!("{value}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.field(field, format_args!("{value}"));
        } else {
            self.field(field, format_args!("{value:?}"));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.field(field, format_args!("{value:?}"));
    }
}

/// Passes text through with control characters escaped (`\n`, `\u{1b}`, …).
struct Escaped<'w, W: Write>(&'w mut W);

impl<W: Write> Write for Escaped<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut rest = s;
        while let Some(at) = rest.find(|c: char| c.is_control()) {
            self.0.write_str(&rest[..at])?;
            let c = rest[at..].chars().next().unwrap_or_default();
            write!(self.0, "{}", c.escape_default())?;
            rest = &rest[at + c.len_utf8()..];
        }
        self.0.write_str(rest)
    }
}

thread_local! {
    /// The second last written by this thread and its `YYYY-MM-DDTHH:MM:SS`.
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// `2026-12-05T05:14:50.123456Z` (UTC, microseconds).
fn write_timestamp(writer: &mut impl Write, now: SystemTime) -> fmt::Result {
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since_epoch.as_secs();
    SECOND.with_borrow_mut(|(cached, text)| {
        if *cached != seconds {
            *cached = seconds;
            text.clear();
            let days = i64::try_from(seconds / 86_400).unwrap_or(i64::MAX);
            let (year, month, day) = patchbay_core::time::civil_date(days);
            let of_day = seconds % 86_400;
            let _ = write!(
                text,
                "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
                of_day / 3600,
                of_day / 60 % 60,
                of_day % 60
            );
        }
        write!(writer, "{text}.{:06}Z", since_epoch.subsec_micros())
    })
}

/// Where the lines go: stderr, in batches. A line is appended to a buffer in memory; a thread
/// writes the buffer out every [`FLUSH_EVERY`], or the logging thread does at once when
/// [`BUFFER_LIMIT`] bytes are waiting (so a flood of lines is slowed down, never dropped). At
/// the default level every request logs a line, and a `write` per line cost about a tenth of
/// an authenticated request; a line now reaches stderr at most [`FLUSH_EVERY`] late, and one
/// `kill -9` loses at most that much of the log.
#[derive(Clone)]
pub struct Batched(Arc<Batch>);

struct Batch {
    waiting: Mutex<Vec<u8>>,
    /// Held while a batch is written, so that batches leave in the order they were taken.
    out: Mutex<()>,
}

pub const FLUSH_EVERY: Duration = Duration::from_millis(20);
pub const BUFFER_LIMIT: usize = 64 * 1024;

impl Batched {
    /// The writer and its flushing thread; the returned guard writes out what is left when it
    /// is dropped.
    pub fn start() -> (Batched, Flush) {
        let batched = Batched(Arc::new(Batch {
            waiting: Mutex::new(Vec::with_capacity(BUFFER_LIMIT)),
            out: Mutex::new(()),
        }));
        let flusher = batched.clone();
        let _ = std::thread::Builder::new().name("patchbay-log".into()).spawn(move || {
            loop {
                std::thread::sleep(FLUSH_EVERY);
                flusher.write_out();
            }
        });
        (batched.clone(), Flush(batched))
    }

    fn write_out(&self) {
        let _order = self.0.out.lock().unwrap_or_else(|e| e.into_inner());
        let batch = {
            let mut waiting = self.0.waiting.lock().unwrap_or_else(|e| e.into_inner());
            if waiting.is_empty() {
                return;
            }
            std::mem::replace(&mut *waiting, Vec::with_capacity(BUFFER_LIMIT))
        };
        // Nowhere to report a failure to write the log.
        let _ = std::io::stderr().lock().write_all(&batch);
    }
}

/// Writes out the lines still waiting when dropped.
pub struct Flush(Batched);

impl Drop for Flush {
    fn drop(&mut self) {
        self.0.write_out();
    }
}

impl std::io::Write for Batched {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let full = {
            let mut waiting = self.0.waiting.lock().unwrap_or_else(|e| e.into_inner());
            waiting.extend_from_slice(line);
            waiting.len() >= BUFFER_LIMIT
        };
        if full {
            self.write_out();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Batched {
    type Writer = Batched;

    fn make_writer(&'a self) -> Batched {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn timestamp(seconds: u64, micros: u64) -> String {
        let mut s = String::new();
        let at = UNIX_EPOCH + Duration::from_secs(seconds) + Duration::from_micros(micros);
        write_timestamp(&mut s, at).unwrap();
        s
    }

    #[test]
    fn timestamps_are_utc_with_microseconds() {
        assert_eq!(timestamp(0, 0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(timestamp(951_782_400, 7), "2000-02-29T00:00:00.000007Z");
        assert_eq!(timestamp(1_796_447_690, 123_456), "2026-12-05T05:14:50.123456Z");
        // Within the same second the cached date part is reused; the next second is new.
        assert_eq!(timestamp(1_796_447_690, 999_999), "2026-12-05T05:14:50.999999Z");
        assert_eq!(timestamp(1_796_447_691, 0), "2026-12-05T05:14:51.000000Z");
        assert_eq!(timestamp(4_107_542_399, 0), "2100-02-28T23:59:59.000000Z");
    }

    #[test]
    fn control_characters_cannot_forge_a_line() {
        let mut s = String::new();
        write!(Escaped(&mut s), "a\nb\r\u{1b}[31mc é").unwrap();
        assert_eq!(s, "a\\nb\\r\\u{1b}[31mc é");
    }
}
