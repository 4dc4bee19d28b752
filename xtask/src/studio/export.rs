//! CSV and JSON of a table (its filters and order applied) or of a query's result, written
//! as the rows are read and streamed to the browser.
//!
//! CSV: RFC 4180, a header line, CRLF line ends; NULL is an empty field and an empty string
//! is `""`, so the two stay apart. JSON: an array of objects keyed by column name; integers
//! and reals as numbers, booleans as `true`/`false`, NULL as `null`, text (JSON columns
//! included, as stored) as strings, bytes as hex strings.

use bytes::Bytes;
use cms_db::connection::Value;
use tokio::sync::mpsc;

use super::catalog::TypeClass;
use super::console::RowSink;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "csv" => Some(Format::Csv),
            "json" => Some(Format::Json),
            _ => None,
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Json => "application/json",
        }
    }
}

/// Turns rows into the bytes of one export.
pub struct Writer {
    format: Format,
    columns: Vec<String>,
    classes: Vec<TypeClass>,
    rows: usize,
}

impl Writer {
    pub fn new(format: Format, columns: Vec<String>, classes: Vec<TypeClass>) -> Writer {
        Writer { format, columns, classes, rows: 0 }
    }

    /// The start: CSV's header line, JSON's `[`.
    pub fn start(&self) -> String {
        match self.format {
            Format::Csv => {
                let mut line = self.columns.iter().map(|c| csv_field(c)).collect::<Vec<_>>().join(",");
                line.push_str("\r\n");
                line
            }
            Format::Json => "[".into(),
        }
    }

    pub fn row(&mut self, row: &[Value]) -> String {
        self.rows += 1;
        match self.format {
            Format::Csv => {
                let mut line = row.iter().map(csv_value).collect::<Vec<_>>().join(",");
                line.push_str("\r\n");
                line
            }
            Format::Json => {
                // Keys in column order (a JSON map would sort them).
                let fields: Vec<String> = self
                    .columns
                    .iter()
                    .zip(row)
                    .enumerate()
                    .map(|(i, (name, v))| {
                        let class = self.classes.get(i).copied().unwrap_or(TypeClass::Other);
                        format!("{}:{}", serde_json::Value::String(name.clone()), json_value(v, class))
                    })
                    .collect();
                let sep = if self.rows == 1 { "\n" } else { ",\n" };
                format!("{sep}{{{}}}", fields.join(","))
            }
        }
    }

    pub fn finish(&self) -> String {
        match self.format {
            Format::Csv => String::new(),
            Format::Json if self.rows == 0 => "]\n".into(),
            Format::Json => "\n]\n".into(),
        }
    }
}

fn csv_field(s: &str) -> String {
    if s.is_empty() || s.contains([',', '"', '\r', '\n']) || s.starts_with(' ') || s.ends_with(' ') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn csv_value(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Int(i) => i.to_string(),
        Value::Real(f) => f.to_string(),
        Value::Text(s) => csv_field(s),
        Value::Blob(b) => hex::encode(b),
    }
}

fn json_value(v: &Value, class: TypeClass) -> serde_json::Value {
    match v {
        Value::Null => serde_json::Value::Null,
        Value::Int(i) if class == TypeClass::Bool => serde_json::Value::Bool(*i != 0),
        Value::Int(i) => serde_json::Value::from(*i),
        Value::Real(f) => serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, serde_json::Value::Number),
        Value::Text(s) if class == TypeClass::Bool && (s == "true" || s == "false") => {
            serde_json::Value::Bool(s == "true")
        }
        Value::Text(s) => serde_json::Value::String(s.clone()),
        Value::Blob(b) => serde_json::Value::String(hex::encode(b)),
    }
}

/// Sends an export's bytes to the response body, in chunks of about 64 KiB.
pub struct Stream {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    buffer: String,
    /// The receiver went away (the browser stopped the download).
    pub closed: bool,
}

impl Stream {
    pub fn new(tx: mpsc::Sender<Result<Bytes, std::io::Error>>) -> Stream {
        Stream { tx, buffer: String::new(), closed: false }
    }

    pub fn write(&mut self, s: &str) {
        self.buffer.push_str(s);
        if self.buffer.len() >= 64 * 1024 {
            self.flush();
        }
    }

    pub fn flush(&mut self) {
        if self.buffer.is_empty() || self.closed {
            return;
        }
        let chunk = Bytes::from(std::mem::take(&mut self.buffer));
        if self.tx.blocking_send(Ok(chunk)).is_err() {
            self.closed = true;
        }
    }

    /// Ends the body with an error (the browser shows the download as failed).
    pub fn fail(&mut self, message: String) {
        self.flush();
        let _ = self.tx.blocking_send(Err(std::io::Error::other(message)));
        self.closed = true;
    }
}

/// Exports the rows of the single statement of a query.
pub struct QueryExport<'s> {
    pub format: Format,
    pub stream: &'s mut Stream,
    writer: Option<Writer>,
    /// A later statement's result set: not exported.
    ignoring: bool,
}

impl<'s> QueryExport<'s> {
    pub fn new(format: Format, stream: &'s mut Stream) -> QueryExport<'s> {
        QueryExport { format, stream, writer: None, ignoring: false }
    }

    pub fn finish(&mut self) {
        if let Some(w) = &self.writer {
            let end = w.finish();
            self.stream.write(&end);
        }
        self.stream.flush();
    }

    pub fn started(&self) -> bool {
        self.writer.is_some()
    }
}

impl RowSink for QueryExport<'_> {
    fn columns(&mut self, _: usize, _: &str, names: Vec<String>) {
        if self.writer.is_some() {
            self.ignoring = true;
            return;
        }
        let classes = vec![TypeClass::Other; names.len()];
        let w = Writer::new(self.format, names, classes);
        self.stream.write(&w.start());
        self.writer = Some(w);
    }
    fn row(&mut self, row: Vec<Value>) -> bool {
        if self.ignoring {
            return false;
        }
        let Some(w) = self.writer.as_mut() else { return false };
        let line = w.row(&row);
        self.stream.write(&line);
        !self.stream.closed
    }
    fn done(&mut self, _: usize, _: &str, _: Option<u64>) {}
}

/// A body stream over the channel [`Stream`] writes to.
pub struct Body(pub mpsc::Receiver<Result<Bytes, std::io::Error>>);

impl futures_core::Stream for Body {
    type Item = Result<Bytes, std::io::Error>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_keeps_null_and_empty_apart_and_quotes() {
        let mut w = Writer::new(Format::Csv, vec!["a".into(), "b,c".into()], vec![TypeClass::Text; 2]);
        let mut out = w.start();
        out.push_str(&w.row(&[Value::Null, Value::Text(String::new())]));
        out.push_str(&w.row(&[Value::Text("say \"hi\"\nthere".into()), Value::Int(3)]));
        out.push_str(&w.finish());
        assert_eq!(out, "a,\"b,c\"\r\n,\"\"\r\n\"say \"\"hi\"\"\nthere\",3\r\n");
    }

    #[test]
    fn json_is_an_array_of_typed_objects() {
        let classes = vec![TypeClass::Integer, TypeClass::Bool, TypeClass::Text, TypeClass::Real];
        let mut w = Writer::new(Format::Json, vec!["n".into(), "b".into(), "t".into(), "r".into()], classes);
        let mut out = w.start();
        out.push_str(&w.row(&[Value::Int(1), Value::Int(0), Value::Null, Value::Real(1.5)]));
        out.push_str(&w.row(&[Value::Int(2), Value::Text("true".into()), "<x>".into(), Value::Real(2.0)]));
        out.push_str(&w.finish());
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            v,
            serde_json::json!([{"n": 1, "b": false, "t": null, "r": 1.5}, {"n": 2, "b": true, "t": "<x>", "r": 2.0}])
        );
        let empty = Writer::new(Format::Json, vec![], vec![]);
        assert_eq!(format!("{}{}", empty.start(), empty.finish()), "[]\n");
    }
}
