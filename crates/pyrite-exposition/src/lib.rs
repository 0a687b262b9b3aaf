//! The Prometheus text exposition format (version 0.0.4, [`Parser`]) and OpenMetrics
//! 1.0 text ([`OpenMetricsParser`]), as scrape targets and Pushgateway clients write
//! them, parsed straight from the body: every [`Entry`] borrows
//! from the input, label values are unescaped only when they hold an escape, and nothing
//! is allocated per line. Scraping and the Pushgateway API both read bodies through it.
//!
//! The third format, Prometheus's protobuf exposition (length-delimited `MetricFamily`
//! messages, the one that carries native histograms), lives in [`protobuf`]: it decodes
//! into owned families ([`protobuf::parse`]) rather than borrowed lines, and lays them
//! out as Prometheus's flat series on request ([`protobuf::Family::series`]).
//!
//! The grammar is Prometheus's: `# HELP name text` and `# TYPE name type` lines (other
//! `#` lines are comments), and sample lines `name{label="value",…} value [timestamp]`
//! with `\\`, `\"` and `\n` escapes in label values (`\\` and `\n` in help text),
//! values as Go parses floats (`NaN`, `+Inf`, `-Inf`, exponents) and timestamps in
//! milliseconds. An error names the line and what was expected there.
//!
//! The invariant: the parser never panics and never reads past the body, whatever the
//! bytes; a body that is not UTF-8 is refused as a whole.

mod openmetrics;
pub mod protobuf;
mod text;

pub use openmetrics::OpenMetricsParser;
pub use protobuf::ProtobufError;
pub use text::{Entry, Exemplar, Labels, MetricType, ParseError, Parser, Sample};
